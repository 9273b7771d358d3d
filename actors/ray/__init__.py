"""The Ray seam: the only package that imports `ray` (actor options, names, handles, calls)."""
