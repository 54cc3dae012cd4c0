"""The page's "集成参数": the groups each command adds to the basic and atomic ones."""
