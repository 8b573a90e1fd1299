"""Layer code in the code store: merged /opt trees (later layers win) and what the garbage
collection of code keeps (a layer's content, a tree a function still mounts at /opt)."""

from __future__ import annotations

from pathlib import Path

from lambox.arns import Arns
from lambox.control.functions import FunctionService
from lambox.control.runtimes import RuntimeCatalog
from lambox.model import FunctionConfig
from lambox.store.code import CodeStore
from lambox.store.functions import SqliteFunctionStore
from lambox.store.layers import LayerVersion, SqliteLayerStore
from lambox.watch import ChangeFeed
from tests.conftest import make_zip


def test_merged_tree_puts_later_layers_over_earlier_ones(tmp_path: Path) -> None:
    code = CodeStore(tmp_path / "code")
    first = code.put(make_zip({"a.txt": "first", "both.txt": "first", "x/y.txt": "dir"}))
    second = code.put(make_zip({"both.txt": "second", "x": "now a file"}))
    tree = code.merged((first.key, second.key))
    assert (tree / "a.txt").read_text() == "first"
    assert (tree / "both.txt").read_text() == "second"
    assert (tree / "x").read_text() == "now a file"
    assert oct(tree.stat().st_mode & 0o777) == "0o555"
    # Hard links: the merged tree costs no second copy of the bytes.
    assert (tree / "a.txt").stat().st_ino == (first.code_dir / "a.txt").stat().st_ino
    # One tree per combination, in order.
    assert code.merged((first.key, second.key)) == tree
    reverse = code.merged((second.key, first.key))
    assert reverse != tree and (reverse / "both.txt").read_text() == "first"
    assert code.unzipped_size(first.key) == len("first") * 2 + len("dir")


def service(tmp_path: Path, layers: SqliteLayerStore) -> tuple[FunctionService, CodeStore]:
    code = CodeStore(tmp_path / "code")
    store = SqliteFunctionStore(tmp_path / "state.db")
    svc = FunctionService(
        store,
        code,
        ChangeFeed(),
        RuntimeCatalog({}),
        Arns("us-east-1", "000000000000"),
        layer_code=layers.code_in_use,
    )
    return svc, code


def config(name: str, code_key: str, opt_key: str = "") -> FunctionConfig:
    return FunctionConfig(
        name=name,
        runtime="python3.11",
        handler="app.handler",
        role="r",
        code_sha256="",
        code_size=1,
        revision_id="x",
        last_modified="",
        code_key=code_key,
        opt_key=opt_key,
    )


def test_collection_keeps_layer_content_and_mounted_trees(tmp_path: Path) -> None:
    layers = SqliteLayerStore(tmp_path / "layers.db")
    svc, code = service(tmp_path, layers)
    blob = code.put(make_zip({"python/lib.py": "X = 1\n"}))
    layer = layers.publish(LayerVersion("lib", 0, blob.key, blob.sha256, blob.size, 10, "now"))
    svc._collect(blob.key)
    assert code.get(blob.key).code_dir.is_dir()  # a layer version's content
    layers.delete(layer.name, layer.version)
    svc._collect(blob.key)
    assert not blob.code_dir.exists()

    other = code.put(make_zip({"python/other.py": "Y = 2\n"}))
    own = code.put(make_zip({"app.py": "def handler(e, c): pass\n"}))
    merged = code.merged((other.key,)).name
    svc._store.insert(config("fn", own.key, merged))
    svc._collect(merged)
    assert code.tree(merged).is_dir()  # the function mounts it at /opt
    svc._store.replace(config("fn", own.key, ""))
    svc._collect(merged)
    assert not (tmp_path / "code" / "tree" / merged).exists()
