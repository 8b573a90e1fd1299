"""STS on the edge: who am I, and temporary credentials of a role."""
