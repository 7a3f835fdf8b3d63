"""`rapport manifest build|validate`: a good build, and each kind of bad input named with its JSON path.

Every bad-input test checks two things: the problem is reported at the right path, and no package
is written (a half-right package uploaded to Teams is worse than none).
"""

from __future__ import annotations

import json
import shutil
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from local.cli import main as cli_main
from manifest import package
from manifest.icons import decode_png, draw_outline, encode_png
from rapport.settings import load_settings

CLIENT_ID = "11111111-2222-3333-4444-555555555555"
BOT_ID = "66666666-7777-8888-9999-000000000000"
TENANT_ID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
HOST = "func-rapport-test.azurewebsites.net"
ENV = {
    "RAPPORT_CLIENT_ID": CLIENT_ID,
    "MicrosoftAppId": BOT_ID,
    "MicrosoftAppType": "UserAssignedMSI",
    "MicrosoftAppTenantId": TENANT_ID,
    "RAPPORT_PUBLIC_URL": f"https://{HOST}",
}


@pytest.fixture
def settings():
    return load_settings(ENV)


@pytest.fixture
def tpl(tmp_path: Path) -> Path:
    """A private copy of the real template and icons, for tests to spoil."""
    d = tmp_path / "tpl"
    (d / "icons").mkdir(parents=True)
    shutil.copy(package.TEMPLATE, d / "manifest.template.json")
    for name in ("color.png", "outline.png"):
        shutil.copy(package.HERE / "icons" / name, d / "icons" / name)
    return d / "manifest.template.json"


def edit(template: Path, change) -> None:
    data = json.loads(template.read_text())
    change(data)
    template.write_text(json.dumps(data))


def build(settings, template: Path, out: Path, capsys) -> tuple[int, str]:
    rc = package.manifest_command(settings, "build", template=template, out=out)
    captured = capsys.readouterr()
    return rc, captured.out + captured.err


def schema_for(manifest: dict) -> dict:
    schema, where = package.load_schema(manifest["manifestVersion"], package.schema_roots())
    assert schema is not None, where
    return schema


# --- the good path -------------------------------------------------------------------------------

def test_good_build_writes_a_package_whose_manifest_validates(settings, tpl, tmp_path, capsys):
    out = tmp_path / "out" / "appPackage.zip"
    rc, text = build(settings, tpl, out, capsys)
    assert rc == 0, text
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(zf.read("manifest.json"))
        color, outline = decode_png(zf.read("color.png")), decode_png(zf.read("outline.png"))
    assert package.schema_problems(manifest, schema_for(manifest)) == []
    assert (color.width, color.height, outline.width, outline.height) == (192, 192, 32, 32)
    assert manifest["id"] == package.teams_app_id(CLIENT_ID)
    assert manifest["bots"][0]["botId"] == BOT_ID
    assert manifest["bots"][0]["scopes"] == ["personal"]
    titles = [c["title"] for c in manifest["bots"][0]["commandLists"][0]["commands"]]
    assert titles == ["brief", "my follow-ups", "help"]
    assert manifest["webApplicationInfo"] == {"id": CLIENT_ID, "resource": f"api://{HOST}/{CLIENT_ID}"}
    assert manifest["validDomains"] == [HOST]
    ext = manifest["extensions"][0]
    assert ext["runtimes"][0]["code"]["page"] == f"https://{HOST}/addin/taskpane.html"
    assert ext["runtimes"][0]["actions"][0]["pinnable"] is True
    tab = manifest["staticTabs"][0]  # "My BD desk" as a personal tab: the report page (addin/web/report.html)
    assert tab["contentUrl"] == f"https://{HOST}/addin/report.html" and tab["scopes"] == ["personal"]
    contexts = {c for r in ext["ribbons"] for c in r["contexts"]}
    assert {"mailRead", "meetingDetailsAttendee", "meetingDetailsOrganizer"} <= contexts
    assert "{{" not in json.dumps(manifest)


def test_the_audience_setting_becomes_the_sso_resource(tpl, tmp_path, capsys):
    settings = load_settings({**ENV, "RAPPORT_API_AUDIENCE": f"api://{HOST}/custom"})
    out = tmp_path / "p.zip"
    assert build(settings, tpl, out, capsys)[0] == 0
    with zipfile.ZipFile(out) as zf:
        assert json.loads(zf.read("manifest.json"))["webApplicationInfo"]["resource"] == f"api://{HOST}/custom"


def test_validate_checks_but_writes_nothing(settings, tpl, tmp_path, capsys):
    out = tmp_path / "p.zip"
    assert package.manifest_command(settings, "validate", template=tpl, out=out) == 0
    assert "valid" in capsys.readouterr().out
    assert not out.exists()


def test_the_teams_app_id_is_stable_and_derived_from_the_client_id():
    assert package.teams_app_id(CLIENT_ID) == package.teams_app_id(CLIENT_ID.upper())
    assert package.teams_app_id(CLIENT_ID) != package.teams_app_id(BOT_ID)


def test_the_cli_builds_from_the_environment(monkeypatch, tmp_path, capsys):
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    out = tmp_path / "cli.zip"
    assert cli_main(["manifest", "build", "--out", str(out)]) == 0
    assert zipfile.is_zipfile(out)


# --- bad input: each named with its JSON path, and no package ------------------------------------

def assert_refused(rc: int, text: str, out: Path, *expected: str) -> None:
    assert rc == 1, text
    assert not out.exists() and not out.with_name(out.name + ".tmp").exists()
    assert "no package written" in text
    for line in expected:
        assert line in text, f"expected {line!r} in:\n{text}"


def test_missing_required_field(settings, tpl, tmp_path, capsys):
    edit(tpl, lambda m: m.pop("developer"))
    out = tmp_path / "p.zip"
    assert_refused(*build(settings, tpl, out, capsys), out, "$.developer: required field is missing")


def test_missing_nested_required_field(settings, tpl, tmp_path, capsys):
    edit(tpl, lambda m: m["name"].pop("short"))
    out = tmp_path / "p.zip"
    assert_refused(*build(settings, tpl, out, capsys), out, "$.name.short: required field is missing")


def test_wrong_colour_icon_size(settings, tpl, tmp_path, capsys):
    white = [(255, 255, 255, 255)] * (100 * 100)
    (tpl.parent / "icons" / "color.png").write_bytes(encode_png(100, 100, white))
    out = tmp_path / "p.zip"
    assert_refused(*build(settings, tpl, out, capsys), out,
                   "$.icons.color: color.png is 100x100 pixels; must be 192x192")


def test_wrong_outline_icon_size(settings, tpl, tmp_path, capsys):
    (tpl.parent / "icons" / "outline.png").write_bytes(encode_png(64, 64, draw_outline(64)))
    out = tmp_path / "p.zip"
    assert_refused(*build(settings, tpl, out, capsys), out,
                   "$.icons.outline: outline.png is 64x64 pixels; must be 32x32")


def test_outline_icon_without_transparency(settings, tpl, tmp_path, capsys):
    (tpl.parent / "icons" / "outline.png").write_bytes(encode_png(32, 32, [(255, 255, 255, 255)] * 1024))
    out = tmp_path / "p.zip"
    assert_refused(*build(settings, tpl, out, capsys), out,
                   "$.icons.outline: outline.png has no transparent pixels")


def test_outline_icon_that_is_not_white(settings, tpl, tmp_path, capsys):
    pixels = draw_outline(32)
    pixels[16 * 32 + 3] = (200, 0, 0, 255)
    (tpl.parent / "icons" / "outline.png").write_bytes(encode_png(32, 32, pixels))
    out = tmp_path / "p.zip"
    assert_refused(*build(settings, tpl, out, capsys), out,
                   "$.icons.outline: outline.png must be white on transparent; pixel (3,16) is #C80000")


def test_missing_icon_file(settings, tpl, tmp_path, capsys):
    (tpl.parent / "icons" / "color.png").unlink()
    out = tmp_path / "p.zip"
    assert_refused(*build(settings, tpl, out, capsys), out, "$.icons.color: icon file color.png not found")


def test_non_guid_app_id(settings, tpl, tmp_path, capsys):
    edit(tpl, lambda m: m.update(id="rapport-app"))
    out = tmp_path / "p.zip"
    assert_refused(*build(settings, tpl, out, capsys), out, "$.id: must be a GUID (got 'rapport-app')")


def test_non_guid_bot_id(settings, tpl, tmp_path, capsys):
    edit(tpl, lambda m: m["bots"][0].update(botId="my-bot"))
    out = tmp_path / "p.zip"
    assert_refused(*build(settings, tpl, out, capsys), out, "$.bots[0].botId: must be a GUID (got 'my-bot')")


def test_bot_id_that_is_not_the_configured_bot(settings, tpl, tmp_path, capsys):
    other = "99999999-8888-7777-6666-555555555555"
    edit(tpl, lambda m: m["bots"][0].update(botId=other))
    out = tmp_path / "p.zip"
    assert_refused(*build(settings, tpl, out, capsys), out,
                   f"$.bots[0].botId: is {other} but MicrosoftAppId is {BOT_ID}")


def test_domain_not_covered(settings, tpl, tmp_path, capsys):
    def change(m):
        m["extensions"][0]["runtimes"][0]["code"]["page"] = "https://cdn.example.com/taskpane.html"

    edit(tpl, change)
    out = tmp_path / "p.zip"
    assert_refused(*build(settings, tpl, out, capsys), out,
                   "$.extensions[0].runtimes[0].code.page: host cdn.example.com is not covered by validDomains")


def test_plain_http_url(settings, tpl, tmp_path, capsys):
    edit(tpl, lambda m: m["developer"].update(websiteUrl=f"http://{HOST}/about"))
    out = tmp_path / "p.zip"
    assert_refused(*build(settings, tpl, out, capsys), out, "$.developer.websiteUrl: http://")


def test_valid_domain_with_a_scheme(settings, tpl, tmp_path, capsys):
    edit(tpl, lambda m: m.update(validDomains=[f"https://{HOST}"]))
    out = tmp_path / "p.zip"
    assert_refused(*build(settings, tpl, out, capsys), out,
                   "$.validDomains[0]: 'https://", "must be a host name")


def test_wildcard_domain_covers_one_label_only():
    assert package._domain_matches("*.example.com", "app.example.com")
    assert not package._domain_matches("*.example.com", "a.b.example.com")
    assert not package._domain_matches("*.example.com", "example.com")
    assert package._domain_matches("example.com", "example.com:443") is True
    assert not package._domain_matches("example.com:8443", "example.com")


def test_unknown_placeholder(settings, tpl, tmp_path, capsys):
    edit(tpl, lambda m: m["name"].update(full="Rapport for {{FIRM_NAME}}"))
    out = tmp_path / "p.zip"
    assert_refused(*build(settings, tpl, out, capsys), out, "$.name.full: placeholder {{FIRM_NAME}}")


def test_field_the_schema_does_not_allow(settings, tpl, tmp_path, capsys):
    edit(tpl, lambda m: m["bots"][0].update(colour="blue"))
    out = tmp_path / "p.zip"
    assert_refused(*build(settings, tpl, out, capsys), out,
                   "$.bots[0].colour: is not a field the schema allows here")


def test_unknown_manifest_version(settings, tpl, tmp_path, capsys):
    edit(tpl, lambda m: m.update(manifestVersion="9.99"))
    out = tmp_path / "p.zip"
    assert_refused(*build(settings, tpl, out, capsys), out, "$.manifestVersion: no schema for version 9.99")


def test_template_that_is_not_json(settings, tpl, tmp_path, capsys):
    tpl.write_text("{ not json")
    out = tmp_path / "p.zip"
    assert_refused(*build(settings, tpl, out, capsys), out, "is not valid JSON (line 1")


def test_missing_settings_are_listed_by_name(tpl, tmp_path, capsys):
    out = tmp_path / "p.zip"
    rc, text = build(load_settings({}), tpl, out, capsys)
    assert_refused(rc, text, out, "RAPPORT_CLIENT_ID: is not set", "MicrosoftAppId: is not set",
                   "RAPPORT_PUBLIC_URL: must be the public https URL")


def test_placeholder_client_id_is_refused(tpl, tmp_path, capsys):
    out = tmp_path / "p.zip"
    env = {**ENV, "RAPPORT_CLIENT_ID": "00000000-0000-0000-0000-000000000000"}
    assert_refused(*build(load_settings(env), tpl, out, capsys), out, "RAPPORT_CLIENT_ID: is the all-zero placeholder")


def test_loopback_public_url_is_refused(tpl, tmp_path, capsys):
    out = tmp_path / "p.zip"
    rc, text = build(load_settings({**ENV, "RAPPORT_PUBLIC_URL": "https://localhost:7071"}), tpl, out, capsys)
    assert_refused(rc, text, out, "RAPPORT_PUBLIC_URL: is a loopback address")


def test_a_failed_build_leaves_an_earlier_package_alone(settings, tpl, tmp_path, capsys):
    out = tmp_path / "p.zip"
    assert build(settings, tpl, out, capsys)[0] == 0
    before = out.read_bytes()
    edit(tpl, lambda m: m.update(id="nope"))
    assert build(settings, tpl, out, capsys)[0] == 1
    assert out.read_bytes() == before  # never a half-written or partly-updated zip


def test_the_schema_is_never_fetched():
    schema = {"$schema": "http://json-schema.org/draft-04/schema#", "type": "object",
              "properties": {"x": {"$ref": "https://example.invalid/remote.json"}}}
    problems = package.schema_problems({"x": 1}, schema)
    assert [str(p) for p in problems] == [
        "$: the schema refers to https://example.invalid/remote.json, which is not available offline"]


# --- the PNG reader the icon checks rely on -------------------------------------------------------

def _png(width: int, height: int, ctype: int, rows: list[bytes], extra: bytes = b"") -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, ctype, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra
            + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b""))


def test_png_reader_undoes_row_filters():
    # RGB, 2x2: row 0 with Sub (1), row 1 with Up (2); expected pixels below.
    rows = [bytes([1, 10, 20, 30, 5, 5, 5]), bytes([2, 1, 1, 1, 2, 2, 2])]
    image = decode_png(_png(2, 2, 2, rows))
    assert image.pixels == [(10, 20, 30, 255), (15, 25, 35, 255), (11, 21, 31, 255), (17, 27, 37, 255)]
    assert image.has_alpha_channel is False


def test_png_reader_honours_palette_transparency():
    palette = bytes([255, 255, 255, 0, 0, 0])
    plte = struct.pack(">I", 6) + b"PLTE" + palette + struct.pack(">I", zlib.crc32(b"PLTE" + palette))
    trns = struct.pack(">I", 1) + b"tRNS" + b"\x00" + struct.pack(">I", zlib.crc32(b"tRNS\x00"))
    image = decode_png(_png(2, 1, 3, [bytes([0, 0, 1])], plte + trns))
    assert image.pixels == [(255, 255, 255, 0), (0, 0, 0, 255)]
    assert image.has_alpha_channel


def test_png_reader_refuses_what_it_cannot_read():
    with pytest.raises(ValueError, match="not a PNG"):
        decode_png(b"GIF89a")


def test_read_mail_pane_is_declared_for_phones(settings, tpl, tmp_path, capsys):
    """Outlook on iOS and Android runs unified-manifest add-ins in read mail only: the mailRead
    ribbon lists the "mobile" form factor and a mobile button (nine icons: 25/32/48 px at scales
    1-3) opening the same pane; meeting surfaces stay desktop-only."""
    out = tmp_path / "out" / "appPackage.zip"
    rc, text = build(settings, tpl, out, capsys)
    assert rc == 0, text
    with zipfile.ZipFile(out) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert package.schema_problems(manifest, schema_for(manifest)) == []
    ext = manifest["extensions"][0]
    assert "mobile" in ext["requirements"].get("formFactors", ["desktop", "mobile"])
    mobile = [r for r in ext["ribbons"] if "mobile" in r.get("requirements", {}).get("formFactors", [])]
    assert [r["contexts"] for r in mobile] == [["mailRead"]]
    groups = [g for t in mobile[0]["tabs"] for g in t.get("customMobileRibbonGroups", [])]
    buttons = [c for g in groups for c in g["controls"]]
    actions = {a["id"] for r in ext["runtimes"] for a in r["actions"]}
    assert buttons and all(b["type"] == "mobileButton" and b["actionId"] in actions for b in buttons)
    for b in buttons:
        assert sorted((i["size"], i["scale"]) for i in b["icons"]) == [
            (s, k) for s in (25, 32, 48) for k in (1, 2, 3)]
        for i in b["icons"]:  # each URL names a served icon of exactly size x scale pixels
            name = i["url"].rsplit("/", 1)[1]
            img = decode_png((Path(__file__).resolve().parents[1] / "addin/web/icons" / name).read_bytes())
            assert img.width == img.height == i["size"] * i["scale"], name
