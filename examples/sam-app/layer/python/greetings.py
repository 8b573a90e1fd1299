"""A library shipped as a layer: it lands in /opt/python, on every Python function's path."""


def greet(greeting: str, name: str) -> str:
    return f"{greeting}, {name}!"
