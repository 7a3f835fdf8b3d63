"""`rapport manifest build|validate`: the Teams app package."""

from __future__ import annotations

from typing import Any


def register(reg: Any) -> None:
    m = reg.command("manifest", "build or validate the Teams app package")
    m.add_argument("action", choices=["build", "validate"], help="build writes build/appPackage.zip after validating")
    m.add_argument("--template", help="manifest template to use (default: manifest/manifest.template.json)")
    m.add_argument("--out", help="where to write the package (default: build/appPackage.zip)")
    m.set_defaults(run=_manifest)


def _manifest(args: Any, settings: Any) -> int:
    from manifest.package import manifest_command

    return manifest_command(settings, args.action, template=args.template, out=args.out)
