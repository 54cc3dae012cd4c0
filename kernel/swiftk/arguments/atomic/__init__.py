"""The page's "原子参数": trainer, tuners, inference engines and merge groups."""
