"""RAPPORT_DEV_AUTH: a local dev key, accepted only on loopback, through the same validation code."""

from __future__ import annotations

import stat

import jwt
import pytest

from local.commands.dev_token import dev_token_command
from rapport import runtime
from rapport.identity import dev as devauth
from rapport.records import Person, Tenant
from rapport.settings import SettingsError, load_settings
from tests.plugins.identity import TENANT_A, TENANT_B, TENANT_X, entra_world, new_oid
from tests.test_entra_tokens import call


@pytest.fixture
async def dev_world(identity_server, tmp_path):
    with runtime.override(bind_host="127.0.0.1"):  # a local host's loopback bind
        async with entra_world(identity_server, tmp_path, RAPPORT_DEV_AUTH="1") as world:
            yield world


async def test_dev_token_accepted_on_loopback(dev_world):
    oid = await dev_world.person(TENANT_A)
    token = devauth.mint_dev_token(dev_world.settings, TENANT_A, oid, name="Dev Partner")
    status, body, _ = await call(token)
    assert status == 200 and body == {"tid": TENANT_A, "oid": oid, "name": "Dev Partner"}


async def test_dev_token_needs_no_identity_provider(dev_world):
    dev_world.server.down |= {"entra-meta", "entra-keys"}
    status, _, _ = await call(devauth.mint_dev_token(dev_world.settings, TENANT_A, await dev_world.person(TENANT_A)))
    assert status == 200
    assert dev_world.server.hits["entra-keys"] == 0


async def test_real_tokens_still_accepted_with_dev_auth(dev_world):
    assert (await call(dev_world.minter.token(TENANT_A)))[0] == 200


async def test_dev_token_goes_through_every_check(dev_world):
    s = dev_world.settings
    # tenant allow-list still applies
    status, body, _ = await call(devauth.mint_dev_token(s, TENANT_X, new_oid()))
    assert status == 401 and "not enabled" in body["error"]["message"]
    # expiry still applies
    assert (await call(devauth.mint_dev_token(s, TENANT_B, new_oid(), lifetime=-600)))[0] == 401
    # a dev-key token with a wrong audience or a missing scope is refused
    key = devauth.load_or_create_key(devauth.dev_key_path(s))
    claims = jwt.decode(devauth.mint_dev_token(s, TENANT_A, new_oid()), options={"verify_signature": False})
    headers = {"kid": devauth.key_id(key)}
    assert (await call(jwt.encode({**claims, "aud": "api://other"}, key, "RS256", headers=headers)))[0] == 401
    no_scope = {k: v for k, v in claims.items() if k != "scp"}
    assert (await call(jwt.encode(no_scope, key, "RS256", headers=headers)))[0] == 403


async def test_dev_key_refused_without_a_declared_loopback_bind(identity_server, tmp_path):
    """Azure Functions never declares a bind: the dev key is not among the accepted keys."""
    with runtime.override(bind_host=None):
        async with entra_world(identity_server, tmp_path, RAPPORT_DEV_AUTH="1") as world:
            status, body, _ = await call(devauth.mint_dev_token(world.settings, TENANT_A, new_oid()))
            assert status == 401 and "does not publish" in body["error"]["message"]


async def test_dev_key_refused_when_dev_auth_off(identity_server, tmp_path):
    with runtime.override(bind_host="127.0.0.1"):
        async with entra_world(identity_server, tmp_path) as world:
            dev_settings = load_settings({"RAPPORT_SQLITE_PATH": world.settings.sqlite_path,
                                          "RAPPORT_API_AUDIENCE": world.settings.api_audience,
                                          "ENTRA_AUTHORITY_HOST": world.settings.entra_authority_host})
            assert (await call(devauth.mint_dev_token(dev_settings, TENANT_A, new_oid())))[0] == 401


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "::", "rapport.example.com"])
def test_check_bind_refuses_non_loopback_with_dev_auth(host):
    with pytest.raises(SettingsError, match="loopback"):
        devauth.check_bind(load_settings({"RAPPORT_DEV_AUTH": "1"}), host)
    assert not devauth.bound_to_loopback()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"])
def test_loopback_hosts(host):
    assert devauth.is_loopback(host)
    devauth.check_bind(load_settings({"RAPPORT_DEV_AUTH": "1"}), host)


def test_production_settings_cannot_enable_dev_auth():
    with pytest.raises(SettingsError, match="RAPPORT_DEV_AUTH"):
        load_settings({"RAPPORT_DEV_AUTH": "1", "RAPPORT_PUBLIC_URL": "https://rapport.firm.example"})


def test_dev_key_generated_once_private(tmp_path):
    path = tmp_path / ".rapport" / "dev-key.pem"
    first = devauth.load_or_create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = devauth.load_or_create_key(path)
    assert devauth.key_id(first) == devauth.key_id(again)
    other = devauth.load_or_create_key(tmp_path / "elsewhere" / "dev-key.pem")
    assert devauth.key_id(other) != devauth.key_id(first)  # per machine/checkout, not derivable


async def test_dev_token_command(dev_world, capsys):
    oid = new_oid()
    await dev_world.store.put(Person(id=oid, tenantId=TENANT_B, oid=oid, upn="ada@b.test", name="Ada B"))
    await dev_world.store.update(Tenant, TENANT_B, TENANT_B, lambda t: t.model_copy(update={"partners": ["ada@b.test"]}))
    rc = await dev_token_command(dev_world.settings, TENANT_B, None)
    out = capsys.readouterr().out.strip()
    assert rc == 0
    status, body, _ = await call(out)
    assert status == 200 and body["oid"] == oid and body["tid"] == TENANT_B


async def test_dev_token_command_errors(dev_world, capsys):
    assert await dev_token_command(dev_world.settings, TENANT_X, None) == 2
    assert "not onboarded" in capsys.readouterr().err
    assert await dev_token_command(dev_world.settings, TENANT_B, "nobody@b.test") == 2
    assert await dev_token_command(dev_world.settings, None, None) == 2  # two tenants: which one?
    off = load_settings({"RAPPORT_SQLITE_PATH": dev_world.settings.sqlite_path})
    assert await dev_token_command(off, TENANT_B, None) == 2
    assert "RAPPORT_DEV_AUTH" in capsys.readouterr().err


def test_the_process_validator_follows_the_declared_bind(tmp_path):
    """Nothing in rapport.identity.dev reaches into the validator: it is remade when the bind changes."""
    from rapport.identity import tokens

    s = load_settings({"RAPPORT_DEV_AUTH": "1", "RAPPORT_SQLITE_PATH": str(tmp_path / "r.db")})
    with runtime.override(settings=s, store=None, bind_host=None, entra_validator=None):
        assert tokens.validator().dev_keys == {}
        with runtime.override(bind_host="127.0.0.1"):
            kid = devauth.key_id(devauth.load_or_create_key(devauth.dev_key_path(s)))
            assert list(tokens.validator().dev_keys) == [kid]
        assert tokens.validator().dev_keys == {}
