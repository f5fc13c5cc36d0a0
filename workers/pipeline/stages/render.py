"""The tiles and previews stages: the blurred source rendered into the version's prefix.

Both re-render from the source on a retry (from the checkpoint, if an earlier attempt
left one): the tiles are deterministic, so a rewrite puts the same bytes under the same
keys. Only ``scene.json`` (written after both) says the version is complete.
"""

from __future__ import annotations

from tiling.pyramid import choose_layout
from workers.pipeline.job import Job
from workers.pipeline.render import render_previews, render_tiles
from workers.pipeline.stage import Context


class Tiles:
    """Project the cube faces (levelling folded in), cut and write every level's tiles."""

    def done(self, job: Job, ctx: Context) -> bool:
        return job.complete

    def name(self, job: Job) -> str | None:
        return "tiles"

    def run(self, job: Job, ctx: Context) -> None:
        equirect = job.need_source().equirect
        job.layout = choose_layout(equirect.shape[1], ctx.settings.tile_size)
        job.tiles = render_tiles(
            equirect,
            store=ctx.store,
            keys=job.need_keys(),
            layout=job.layout,
            projector=ctx.projector,
            rotation=job.rotation,
            quality=ctx.settings.jpeg_quality,
            threads=ctx.settings.upload_threads,
        )


class Previews:
    """Write the levelled equirect master, its thumbnail and the cube preview strip."""

    def done(self, job: Job, ctx: Context) -> bool:
        return job.complete

    def name(self, job: Job) -> str | None:
        return "previews"

    def run(self, job: Job, ctx: Context) -> None:
        if job.tiles is None:
            raise RuntimeError(f"capture {job.id}: the previews need the tiles stage first")
        job.previews = render_previews(
            job.need_source().equirect,
            job.tiles.smallest,
            store=ctx.store,
            keys=job.need_keys(),
            rotation=job.rotation,
            quality=ctx.settings.jpeg_quality,
            equirect_max_width=ctx.settings.equirect_max_width,
            threads=ctx.settings.upload_threads,
        )
