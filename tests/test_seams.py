"""The library seams (bot/seams.py, the one place Rapport reaches inside a library): these fail when
an upgrade of botframework-connector or msrest moves what the seams rely on."""

from __future__ import annotations

from bot import seams


def test_channel_keys_are_found_by_botbuilder_under_their_metadata_url():
    url = "https://login.botframework.example/seam-test/openidconfiguration"
    marker = object()
    seams.hand_channel_keys_to_botbuilder(url, marker)
    # botbuilder's own lookup (what JwtTokenExtractor.__init__ calls) returns what we installed
    assert seams.channel_keys(url) is marker
    from botframework.connector.auth.jwt_token_extractor import JwtTokenExtractor

    extractor = JwtTokenExtractor.__new__(JwtTokenExtractor)
    JwtTokenExtractor.__init__(extractor, _options(), url, ["RS256"])
    assert extractor.open_id_metadata is marker


def _options():
    from botframework.connector.auth.verify_options import VerifyOptions

    return VerifyOptions(issuer=["https://api.botframework.com"], audience=None, clock_tolerance=300, ignore_expiration=False)


def test_fast_retry_policy_gives_the_same_policy():
    from msrest.universal_http.requests import ClientRetryPolicy

    seams.speed_up_retry_policy()
    assert isinstance(ClientRetryPolicy.safe_codes, frozenset)
    policy = ClientRetryPolicy()
    # the library's rule, unchanged by the seam: 408 and the 5xx other than 501 and 505 are retried
    retried = set(policy.policy.status_forcelist)
    assert {408, 500, 502, 503, 504} <= retried
    assert not retried & {200, 400, 401, 403, 404, 501, 505}
