using Strata.Iscsi.Login;
using Xunit;

namespace Strata.Iscsi.Tests.Login;

/// <summary>CHAP per RFC 7143 12.1.3 and RFC 1994, with responses computed here from the challenge sent.</summary>
public sealed class ChapTests
{
    private static readonly ChapCredentials Initiator = new("alice", "initiator-secret-12");
    private static readonly ChapCredentials TargetSide = new("strata-target", "target-secret-3456");

    private sealed record Challenge(int Algorithm, byte Id, byte[] Bytes);

    private static LoginNegotiator ChapNegotiator(ChapCredentials? mutual = null) =>
        Kit.Negotiator(Kit.Catalog(Kit.Target(chap: Initiator, mutual: mutual)));

    /// <summary>libiscsi's first two requests: AuthMethod=CHAP,None then CHAP_A.</summary>
    private static Challenge StartChap(LoginNegotiator n, string algorithms = "5")
    {
        LoginResponse first = n.Process(Kit.Request(Kit.Sec, Kit.Op, true, Kit.Concat(Kit.Names(), ["AuthMethod=CHAP,None"])));
        Assert.Equal(LoginStatus.Success, first.Status);
        Assert.False(first.Transit); // not authenticated yet
        Assert.Equal("CHAP", Kit.Keys(first)["AuthMethod"]);

        LoginResponse second = n.Process(Kit.Request(Kit.Sec, Kit.Op, false, $"CHAP_A={algorithms}"));
        Assert.Equal(LoginStatus.Success, second.Status);
        Assert.False(second.Transit);
        Dictionary<string, string> keys = Kit.Keys(second);
        Assert.Equal(["CHAP_A", "CHAP_I", "CHAP_C"], Kit.Pairs(second.Text).Select(p => p.Key));
        return new Challenge(int.Parse(keys["CHAP_A"], System.Globalization.CultureInfo.InvariantCulture), byte.Parse(keys["CHAP_I"], System.Globalization.CultureInfo.InvariantCulture), Kit.Hex(keys["CHAP_C"]));
    }

    private static string Respond(Challenge c, string secret = "initiator-secret-12") =>
        Kit.ToHex(Kit.ChapResponse(c.Algorithm, c.Id, secret, c.Bytes));

    [Fact]
    public void Md5_one_way_like_libiscsi()
    {
        LoginNegotiator n = ChapNegotiator();
        Challenge c = StartChap(n);
        Assert.Equal(5, c.Algorithm);
        Assert.Equal(16, c.Bytes.Length);

        LoginResponse third = n.Process(Kit.Request(Kit.Sec, Kit.Op, true, "CHAP_N=alice", $"CHAP_R={Respond(c)}"));
        Assert.Equal(LoginStatus.Success, third.Status);
        Assert.True(third.Transit);
        Assert.Equal(Kit.Op, third.NextStage);
        Assert.True(third.Text.IsEmpty);
        Assert.Equal(ChapAlgorithm.Md5, n.AuthenticatedWith);

        LoginResponse op = n.Process(Kit.Request(Kit.Op, Kit.Ffp, true, Kit.Concat(Kit.Names(), Kit.OpenIscsiOperational)));
        Assert.True(op.Transit);
        Assert.True(n.Completed);
    }

    [Fact]
    public void Sha256_is_chosen_first_when_listed_first_and_mutual_chap_answers_the_initiator()
    {
        LoginNegotiator n = ChapNegotiator(TargetSide);
        Challenge c = StartChap(n, "7,6,5");
        Assert.Equal(7, c.Algorithm);
        Assert.Equal(32, c.Bytes.Length);

        byte[] theirs = Convert.FromHexString("00112233445566778899aabbccddeeff");
        LoginResponse third = n.Process(Kit.Request(Kit.Sec, Kit.Op, true,
            "CHAP_N=alice", $"CHAP_R={Respond(c)}", "CHAP_I=77", $"CHAP_C={Kit.ToHex(theirs)}"));

        Assert.True(third.Transit);
        Dictionary<string, string> keys = Kit.Keys(third);
        Assert.Equal("strata-target", keys["CHAP_N"]);
        Assert.Equal(Kit.ChapResponse(7, 77, "target-secret-3456", theirs), Kit.Hex(keys["CHAP_R"]));
        Assert.Equal(ChapAlgorithm.Sha256, n.AuthenticatedWith);
    }

    [Fact]
    public void Md5_mutual_chap_with_libiscsi_sized_challenge_and_known_vector()
    {
        // RFC 1994 response for id 1, secret "target-secret-3456", challenge 32 bytes of 0x01..0x20, computed
        // by hand with MD5(0x01 || secret || challenge) — the same computation libiscsi does for CHAP_R.
        byte[] theirs = Enumerable.Range(1, 32).Select(i => (byte)i).ToArray();
        byte[] expected = Kit.ChapResponse(5, 1, "target-secret-3456", theirs);
        Assert.Equal(16, expected.Length);

        LoginNegotiator n = ChapNegotiator(TargetSide);
        Challenge c = StartChap(n);
        LoginResponse third = n.Process(Kit.Request(Kit.Sec, Kit.Op, true,
            "CHAP_N=alice", $"CHAP_R={Respond(c)}", "CHAP_I=1", $"CHAP_C={Kit.ToHex(theirs)}"));
        Assert.Equal(expected, Kit.Hex(Kit.Keys(third)["CHAP_R"]));
        // libiscsi checks the exact length "CHAP_R=0x" + 32 hex digits.
        Assert.Equal(9 + 32, ("CHAP_R=" + Kit.Keys(third)["CHAP_R"]).Length);
    }

    [Fact]
    public void Sha1_is_supported_as_algorithm_6()
    {
        LoginNegotiator n = ChapNegotiator();
        Challenge c = StartChap(n, "6");
        Assert.Equal(20, c.Bytes.Length);
        Assert.True(n.Process(Kit.Request(Kit.Sec, Kit.Op, true, "CHAP_N=alice", $"CHAP_R={Respond(c)}")).Transit);
    }

    [Fact]
    public void A_base64_response_is_accepted()
    {
        LoginNegotiator n = ChapNegotiator();
        Challenge c = StartChap(n);
        string b64 = "0b" + Convert.ToBase64String(Kit.ChapResponse(5, c.Id, "initiator-secret-12", c.Bytes));
        Assert.True(n.Process(Kit.Request(Kit.Sec, Kit.Op, true, "CHAP_N=alice", $"CHAP_R={b64}")).Transit);
    }

    [Fact]
    public void The_response_may_come_with_T0_and_the_transit_follows()
    {
        LoginNegotiator n = ChapNegotiator();
        Challenge c = StartChap(n);
        LoginResponse third = n.Process(Kit.Request(Kit.Sec, Kit.Op, false, "CHAP_N=alice", $"CHAP_R={Respond(c)}"));
        Assert.False(third.Transit);
        LoginResponse fourth = n.Process(Kit.Request(Kit.Sec, Kit.Op, true));
        Assert.True(fourth.Transit);
    }

    [Theory]
    [InlineData("8")]
    [InlineData("1,2,3")]
    [InlineData("MD5")]
    public void No_supported_algorithm_is_an_authentication_failure(string algorithms)
    {
        LoginNegotiator n = ChapNegotiator();
        n.Process(Kit.Request(Kit.Sec, Kit.Op, true, Kit.Concat(Kit.Names(), ["AuthMethod=CHAP"])));
        Kit.AssertFailed(n, n.Process(Kit.Request(Kit.Sec, Kit.Op, false, $"CHAP_A={algorithms}")), LoginStatus.AuthenticationFailure);
    }

    [Fact]
    public void A_wrong_response_is_an_authentication_failure()
    {
        LoginNegotiator n = ChapNegotiator();
        Challenge c = StartChap(n);
        LoginResponse r = n.Process(Kit.Request(Kit.Sec, Kit.Op, true, "CHAP_N=alice", $"CHAP_R={Respond(c, "wrong-secret")}"));
        Kit.AssertFailed(n, r, LoginStatus.AuthenticationFailure);
    }

    [Fact]
    public void A_wrong_user_is_an_authentication_failure()
    {
        LoginNegotiator n = ChapNegotiator();
        Challenge c = StartChap(n);
        Kit.AssertFailed(n, n.Process(Kit.Request(Kit.Sec, Kit.Op, true, "CHAP_N=mallory", $"CHAP_R={Respond(c)}")), LoginStatus.AuthenticationFailure);
    }

    [Fact]
    public void The_user_name_is_text_not_a_binary_value()
    {
        // RFC 7143 12.1.3: N is a text string; "0x616c696365" is not "alice".
        LoginNegotiator n = ChapNegotiator();
        Challenge c = StartChap(n);
        Kit.AssertFailed(n, n.Process(Kit.Request(Kit.Sec, Kit.Op, true, "CHAP_N=0x616c696365", $"CHAP_R={Respond(c)}")), LoginStatus.AuthenticationFailure);
    }

    [Theory]
    [InlineData("0x00112233")]
    [InlineData("0xZZ")]
    [InlineData("plain")]
    public void A_response_of_the_wrong_length_or_encoding_fails(string response)
    {
        LoginNegotiator n = ChapNegotiator();
        StartChap(n);
        Kit.AssertFailed(n, n.Process(Kit.Request(Kit.Sec, Kit.Op, true, "CHAP_N=alice", $"CHAP_R={response}")), LoginStatus.AuthenticationFailure);
    }

    [Fact]
    public void Over_long_chap_fields_are_authentication_failures()
    {
        // LIO: CHAP_N up to 511 bytes, CHAP_R up to 128 digits, CHAP_C up to 1024 bytes.
        LoginNegotiator longName = ChapNegotiator();
        Challenge c1 = StartChap(longName);
        Kit.AssertFailed(longName, longName.Process(Kit.Request(Kit.Sec, Kit.Op, true, "CHAP_N=" + new string('a', 512), $"CHAP_R={Respond(c1)}")), LoginStatus.AuthenticationFailure);

        LoginNegotiator longResponse = ChapNegotiator();
        StartChap(longResponse);
        Kit.AssertFailed(longResponse, longResponse.Process(Kit.Request(Kit.Sec, Kit.Op, true, "CHAP_N=alice", "CHAP_R=0x" + new string('0', 130))), LoginStatus.AuthenticationFailure);

        LoginNegotiator longChallenge = ChapNegotiator(TargetSide);
        Challenge c3 = StartChap(longChallenge);
        Kit.AssertFailed(longChallenge, longChallenge.Process(Kit.Request(Kit.Sec, Kit.Op, true,
            "CHAP_N=alice", $"CHAP_R={Respond(c3)}", "CHAP_I=1", "CHAP_C=0x" + new string('a', 2050))), LoginStatus.AuthenticationFailure);
    }

    [Fact]
    public void A_1024_byte_initiator_challenge_is_accepted()
    {
        LoginNegotiator n = ChapNegotiator(TargetSide);
        Challenge c = StartChap(n);
        byte[] theirs = Enumerable.Range(0, 1024).Select(i => (byte)(i * 7)).ToArray();
        LoginResponse r = n.Process(Kit.Request(Kit.Sec, Kit.Op, true, "CHAP_N=alice", $"CHAP_R={Respond(c)}", "CHAP_I=9", $"CHAP_C={Kit.ToHex(theirs)}"));
        Assert.True(r.Transit);
        Assert.Equal(Kit.ChapResponse(5, 9, "target-secret-3456", theirs), Kit.Hex(Kit.Keys(r)["CHAP_R"]));
    }

    [Fact]
    public void Every_login_gets_a_fresh_challenge_and_a_replayed_response_fails()
    {
        LoginNegotiator first = ChapNegotiator();
        Challenge c1 = StartChap(first);
        string recorded = Respond(c1);
        Assert.True(first.Process(Kit.Request(Kit.Sec, Kit.Op, true, "CHAP_N=alice", $"CHAP_R={recorded}")).Transit);

        LoginNegotiator second = ChapNegotiator();
        Challenge c2 = StartChap(second);
        Assert.NotEqual(c1.Bytes, c2.Bytes);
        Kit.AssertFailed(second, second.Process(Kit.Request(Kit.Sec, Kit.Op, true, "CHAP_N=alice", $"CHAP_R={recorded}")), LoginStatus.AuthenticationFailure);
    }

    [Fact]
    public void A_response_is_checked_only_once()
    {
        LoginNegotiator n = ChapNegotiator();
        Challenge c = StartChap(n);
        string response = Respond(c);
        Assert.False(n.Process(Kit.Request(Kit.Sec, Kit.Op, false, "CHAP_N=alice", $"CHAP_R={response}")).Transit);
        Kit.AssertFailed(n, n.Process(Kit.Request(Kit.Sec, Kit.Op, true, "CHAP_N=alice", $"CHAP_R={response}")), LoginStatus.AuthenticationFailure);
    }

    [Fact]
    public void A_reflected_challenge_is_refused()
    {
        LoginNegotiator n = ChapNegotiator(TargetSide);
        Challenge c = StartChap(n);
        Kit.AssertFailed(n, n.Process(Kit.Request(Kit.Sec, Kit.Op, true,
            "CHAP_N=alice", $"CHAP_R={Respond(c)}", "CHAP_I=3", $"CHAP_C={Kit.ToHex(c.Bytes)}")), LoginStatus.AuthenticationFailure);
    }

    [Fact]
    public void Mutual_chap_without_target_credentials_is_refused()
    {
        LoginNegotiator n = ChapNegotiator(mutual: null);
        Challenge c = StartChap(n);
        Kit.AssertFailed(n, n.Process(Kit.Request(Kit.Sec, Kit.Op, true,
            "CHAP_N=alice", $"CHAP_R={Respond(c)}", "CHAP_I=3", "CHAP_C=0x0102030405060708")), LoginStatus.AuthenticationFailure);
    }

    [Fact]
    public void Mutual_chap_needs_both_identifier_and_challenge()
    {
        LoginNegotiator n = ChapNegotiator(TargetSide);
        Challenge c = StartChap(n);
        Kit.AssertFailed(n, n.Process(Kit.Request(Kit.Sec, Kit.Op, true, "CHAP_N=alice", $"CHAP_R={Respond(c)}", "CHAP_I=3")), LoginStatus.AuthenticationFailure);
    }

    [Theory]
    [InlineData("256")]
    [InlineData("-1")]
    [InlineData("x")]
    public void Mutual_chap_identifier_must_be_0_to_255(string id)
    {
        LoginNegotiator n = ChapNegotiator(TargetSide);
        Challenge c = StartChap(n);
        Kit.AssertFailed(n, n.Process(Kit.Request(Kit.Sec, Kit.Op, true,
            "CHAP_N=alice", $"CHAP_R={Respond(c)}", $"CHAP_I={id}", "CHAP_C=0x0102030405060708")), LoginStatus.AuthenticationFailure);
    }

    [Fact]
    public void The_same_secret_in_both_directions_is_refused()
    {
        LoginNegotiator n = ChapNegotiator(new ChapCredentials("strata-target", "initiator-secret-12"));
        Challenge c = StartChap(n);
        Kit.AssertFailed(n, n.Process(Kit.Request(Kit.Sec, Kit.Op, true,
            "CHAP_N=alice", $"CHAP_R={Respond(c)}", "CHAP_I=3", "CHAP_C=0x0102030405060708")), LoginStatus.AuthenticationFailure);
    }

    [Fact]
    public void Jumping_to_the_operational_stage_without_authenticating_fails()
    {
        LoginNegotiator n = ChapNegotiator();
        Kit.AssertFailed(n, n.Process(Kit.Request(Kit.Op, Kit.Ffp, true, Kit.Concat(Kit.Names(), Kit.OpenIscsiOperational))), LoginStatus.AuthenticationFailure);
    }

    [Fact]
    public void Asking_to_transit_without_offering_chap_fails()
    {
        LoginNegotiator n = ChapNegotiator();
        Kit.AssertFailed(n, n.Process(Kit.Request(Kit.Sec, Kit.Op, true, Kit.Names())), LoginStatus.AuthenticationFailure);
    }

    [Fact]
    public void Offering_only_None_when_chap_is_required_fails()
    {
        LoginNegotiator n = ChapNegotiator();
        Kit.AssertFailed(n, n.Process(Kit.Request(Kit.Sec, Kit.Op, true, Kit.Concat(Kit.Names(), ["AuthMethod=None"]))), LoginStatus.AuthenticationFailure);
    }

    [Fact]
    public void Offering_only_chap_when_none_is_configured_fails()
    {
        LoginNegotiator n = Kit.Negotiator();
        Kit.AssertFailed(n, n.Process(Kit.Request(Kit.Sec, Kit.Op, true, Kit.Concat(Kit.Names(), ["AuthMethod=CHAP"]))), LoginStatus.AuthenticationFailure);
    }

    [Fact]
    public void Chap_keys_out_of_order_fail()
    {
        LoginNegotiator early = ChapNegotiator();
        early.Process(Kit.Request(Kit.Sec, Kit.Op, true, Kit.Concat(Kit.Names(), ["AuthMethod=CHAP"])));
        Kit.AssertFailed(early, early.Process(Kit.Request(Kit.Sec, Kit.Op, true, "CHAP_N=alice", "CHAP_R=0x00")), LoginStatus.AuthenticationFailure);

        LoginNegotiator twice = ChapNegotiator();
        StartChap(twice);
        Kit.AssertFailed(twice, twice.Process(Kit.Request(Kit.Sec, Kit.Op, false, "CHAP_A=7")), LoginStatus.InitiatorError);
    }

    [Fact]
    public void Discovery_sessions_use_the_catalog_discovery_credentials()
    {
        var catalog = new FakeCatalog { DiscoveryChap = new ChapCredentials("disco", "discovery-secret-1") };
        LoginNegotiator n = Kit.Negotiator(catalog);
        LoginResponse first = n.Process(Kit.Request(Kit.Sec, Kit.Op, true, $"InitiatorName={Kit.InitiatorIqn}", "SessionType=Discovery", "AuthMethod=CHAP,None"));
        Assert.Equal("CHAP", Kit.Keys(first)["AuthMethod"]);
        Dictionary<string, string> keys = Kit.Keys(n.Process(Kit.Request(Kit.Sec, Kit.Op, false, "CHAP_A=5")));
        byte id = byte.Parse(keys["CHAP_I"], System.Globalization.CultureInfo.InvariantCulture);
        string r = Kit.ToHex(Kit.ChapResponse(5, id, "discovery-secret-1", Kit.Hex(keys["CHAP_C"])));
        Assert.True(n.Process(Kit.Request(Kit.Sec, Kit.Op, true, "CHAP_N=disco", $"CHAP_R={r}")).Transit);
    }
}
