"""OpInfo entries by family: each module exports `OP_DB: list[OpInfo]`."""
