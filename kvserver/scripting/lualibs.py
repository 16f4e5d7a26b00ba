"""Placeholder: the helper "lualibs" provides cjson, cmsgpack, bit and struct here."""


def install(lua: object) -> None:
    pass
