"""`warmkeeper images --env E --local`: build every container's image here and print their sizes."""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from warmkeeper.config import AppConfig, EnvironmentSettings
from warmkeeper.images.bases import BaseMode
from warmkeeper.images.build import MB, BuildError, BuiltImage, TaskSize, build_image, measure
from warmkeeper.images.container_cli import Engine, EngineError, detect_engine
from warmkeeper.naming import built_containers

DEFAULT_BUDGET_MB = 100.0
SIZES_FILE = "sizes.json"


@dataclass(frozen=True)
class LocalImages:
    engine: Engine
    built: list[BuiltImage]
    sizes: TaskSize


def _mb(size: int | None) -> str:
    return "n/a" if size is None else f"{size / MB:.1f}"


def build_local_images(
    cfg: AppConfig,
    mode: BaseMode,
    out_dir: Path,
    console: Console,
    engine: Engine | None = None,
) -> LocalImages:
    """Build the images one by one (the first failure stops it), then measure them together."""
    engine = engine or detect_engine()
    out_dir.mkdir(parents=True, exist_ok=True)
    console.print(f"engine: {engine.name} ({engine.executable}); host architecture {platform.machine()}")
    built: list[BuiltImage] = []
    # The app's own task: what one task of it pulls is what the sizes and the budget are about.
    for container in (c for c in built_containers(cfg) if c in cfg.containers):
        console.print(f"building {container.name} from {container.build}/Dockerfile ...", highlight=False)
        built.append(
            build_image(
                engine,
                cfg,
                container,
                mode,
                out_dir,
                announce=lambda text: console.print("  " + text, markup=False),
            )
        )
    console.print("measuring (gzip -6 and zstd -3 of every layer, as a push compresses them) ...")
    sizes = measure(engine, {image.container: image.tag for image in built})
    return LocalImages(engine, built, sizes)


def _base_label(image: BuiltImage) -> str:
    return ", ".join(
        f"{c.used.rsplit('/', 1)[-1]} ({'local' if c.is_local else 'public'})" for c in image.bases
    )


def size_table(result: LocalImages) -> Table:
    table = Table(title="image sizes, MB (10^6 bytes), compressed as a registry stores them")
    table.add_column("image")
    for column in ("layers", "uncompressed", "gzip -6", "zstd -3"):
        table.add_column(column, justify="right")
    table.add_column("built from")
    by_name = {image.container: image for image in result.built}
    for image in result.sizes.images:
        table.add_row(
            image.container,
            str(len(image.layers)),
            _mb(image.uncompressed),
            _mb(image.gzip),
            _mb(image.zstd),
            _base_label(by_name[image.container]),
        )
    task = result.sizes
    table.add_row(
        "task",
        str(sum(len(image.layers) for image in task.images) - task.shared_layers),
        _mb(task.uncompressed),
        _mb(task.gzip),
        _mb(task.zstd),
        f"{task.shared_layers} shared layers counted once",
    )
    return table


def sizes_json(cfg: AppConfig, result: LocalImages) -> dict[str, object]:
    task = result.sizes
    return {
        "app": cfg.app.name,
        "engine": result.engine.name,
        "architecture": platform.machine(),
        "unit": "MB (10^6 bytes)",
        "compression": {"gzip": "level 6", "zstd": "level 3"},
        "images": {
            image.container: {
                "tag": image.tag,
                "layers": len(image.layers),
                "uncompressed_mb": round(image.uncompressed / MB, 2),
                "gzip_mb": round(image.gzip / MB, 2),
                "zstd_mb": None if image.zstd is None else round(image.zstd / MB, 2),
            }
            for image in task.images
        },
        "task": {
            "shared_layers": task.shared_layers,
            "uncompressed_mb": round(task.uncompressed / MB, 2),
            "gzip_mb": round(task.gzip / MB, 2),
            "zstd_mb": None if task.zstd is None else round(task.zstd / MB, 2),
        },
    }


def run_local_images(
    cfg: AppConfig,
    settings: EnvironmentSettings,
    mode: BaseMode,
    budget_mb: float,
    out_dir: Path,
    console: Console,
) -> int:
    """Build, measure, print, record `sizes.json`; 1 when over budget. Raises BuildError/EngineError."""
    result = build_local_images(cfg, mode, out_dir, console)
    console.print(size_table(result))
    task = result.sizes
    console.print(
        f"task total: {_mb(task.gzip)} MB gzip, {_mb(task.zstd)} MB zstd, {_mb(task.uncompressed)} MB "
        f"uncompressed ({task.shared_layers} shared layers counted once)",
        highlight=False,
    )
    (out_dir / SIZES_FILE).write_text(json.dumps(sizes_json(cfg, result), indent=2) + "\n", encoding="utf-8")
    target = settings.architecture
    host = platform.machine().lower()
    if target not in host and not (target == "x86_64" and host == "amd64"):
        console.print(
            f"note: built for this machine ({host}); the environment runs {target}: "
            "its images have the same layers built for that architecture, of similar size"
        )
    # The budget is checked on gzip, the larger of the two: it holds whichever a push uses.
    total = result.sizes.gzip / MB
    if total > budget_mb:
        console.print(f"over budget: the task's images take {total:.1f} MB gzip > {budget_mb:g} MB")
        return 1
    console.print(f"within budget: {total:.1f} MB gzip <= {budget_mb:g} MB (sizes in {out_dir / SIZES_FILE})")
    return 0


__all__ = ["DEFAULT_BUDGET_MB", "BuildError", "EngineError", "build_local_images", "run_local_images"]
