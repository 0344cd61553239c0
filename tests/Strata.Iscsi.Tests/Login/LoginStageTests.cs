using System.Net;
using System.Text;
using Strata.Iscsi.Login;
using Xunit;

namespace Strata.Iscsi.Tests.Login;

/// <summary>First-request checks, CSG/NSG and the T bit, redeclarations, malformed text, ACLs.</summary>
public sealed class LoginStageTests
{
    [Fact]
    public void Libiscsi_style_login_without_authentication_goes_straight_to_full_feature()
    {
        LoginNegotiator n = Kit.Negotiator();
        LoginResponse response = n.Process(Kit.Request(Kit.Op, Kit.Ffp, true, Kit.Concat(Kit.Names(),
        [
            "HeaderDigest=None,CRC32C", "DataDigest=None", "InitialR2T=No", "ImmediateData=Yes",
            "MaxBurstLength=262144", "FirstBurstLength=262144", "DefaultTime2Wait=2", "DefaultTime2Retain=0",
            "IFMarker=No", "OFMarker=No", "MaxConnections=1", "MaxRecvDataSegmentLength=262144",
            "DataPDUInOrder=Yes", "DataSequenceInOrder=Yes", "MaxOutstandingR2T=1", "ErrorRecoveryLevel=0",
        ])));

        Assert.Equal(LoginStatus.Success, response.Status);
        Assert.True(response.Transit);
        Assert.False(response.Continue);
        Assert.Equal(Kit.Op, response.CurrentStage);
        Assert.Equal(Kit.Ffp, response.NextStage);
        Assert.True(n.Completed);
        Assert.False(n.Failed);
        Assert.Equal(
        [
            new("TargetPortalGroupTag", "1"), new("MaxRecvDataSegmentLength", "262144"),
            new("InitialR2T", "No"), new("ImmediateData", "Yes"), new("MaxBurstLength", "262144"),
            new("HeaderDigest", "None"), new("DataDigest", "None"), new("FirstBurstLength", "262144"),
            new("DefaultTime2Wait", "2"), new("DefaultTime2Retain", "0"), new("IFMarker", "No"), new("OFMarker", "No"),
            new("MaxConnections", "1"), new("DataPDUInOrder", "Yes"), new("DataSequenceInOrder", "Yes"),
            new("MaxOutstandingR2T", "1"), new("ErrorRecoveryLevel", "0"),
        ],
            Kit.Pairs(response.Text));

        NegotiatedParameters p = n.Parameters;
        Assert.Equal(Kit.InitiatorIqn, p.InitiatorName);
        Assert.Equal(Kit.TargetIqn, p.TargetName);
        Assert.Equal(Kit.TargetIqn, n.Target!.Name);
        Assert.Equal(SessionType.Normal, p.SessionType);
        Assert.False(p.HeaderDigest);
        Assert.False(p.InitialR2T);
        Assert.True(p.ImmediateData);
        Assert.Equal(262144, p.MaxBurstLength);
        Assert.Equal(262144, p.FirstBurstLength);
        Assert.Equal(262144, p.InitiatorMaxRecvDataSegmentLength);
        Assert.Equal(262144, p.TargetMaxRecvDataSegmentLength);
        Assert.Equal(0, p.DefaultTime2Retain);
        Assert.Equal(1, p.MaxOutstandingR2T);
    }

    [Fact]
    public void Open_iscsi_style_login_through_the_security_stage_with_AuthMethod_None()
    {
        LoginNegotiator n = Kit.Negotiator(Kit.Catalog(Kit.Target(alias: "vol1")));
        LoginResponse security = n.Process(Kit.Request(Kit.Sec, Kit.Op, true,
            $"InitiatorName={Kit.InitiatorIqn}", "InitiatorAlias=node1", $"TargetName={Kit.TargetIqn}", "SessionType=Normal", "AuthMethod=None"));
        Assert.True(security.Transit);
        Assert.Equal(Kit.Sec, security.CurrentStage);
        Assert.Equal(Kit.Op, security.NextStage);
        Assert.Equal([new("TargetPortalGroupTag", "1"), new("TargetAlias", "vol1"), new("AuthMethod", "None")], Kit.Pairs(security.Text));
        Assert.Equal(Kit.Op, n.CurrentStage);

        LoginResponse operational = n.Process(Kit.Request(Kit.Op, Kit.Ffp, true, Kit.OpenIscsiOperational));
        Assert.True(operational.Transit);
        Assert.True(n.Completed);
        Dictionary<string, string> keys = Kit.Keys(operational);
        Assert.Equal("1", keys["MaxOutstandingR2T"]);
        Assert.Equal("1", keys["MaxConnections"]);
        Assert.Equal("0", keys["ErrorRecoveryLevel"]);
        Assert.Equal("16776192", keys["MaxBurstLength"]);
        Assert.Equal("262144", keys["FirstBurstLength"]);
        Assert.False(keys.ContainsKey("TargetPortalGroupTag"));
        Assert.Equal("node1", n.Parameters.InitiatorAlias);
        Assert.Null(n.AuthenticatedWith);
    }

    [Fact]
    public void The_security_stage_may_skip_the_operational_stage()
    {
        LoginNegotiator n = Kit.Negotiator();
        LoginResponse response = n.Process(Kit.Request(Kit.Sec, Kit.Ffp, true, Kit.Concat(Kit.Names(), ["AuthMethod=None"])));
        Assert.True(response.Transit);
        Assert.Equal(Kit.Ffp, response.NextStage);
        Assert.True(n.Completed);
        // Nothing operational was negotiated: the RFC defaults stand.
        Assert.Equal(8192, n.Parameters.TargetMaxRecvDataSegmentLength);
        Assert.True(n.Parameters.InitialR2T);
        Assert.Equal(65536, n.Parameters.FirstBurstLength);
    }

    [Fact]
    public void The_target_answers_T0_while_the_initiator_does_not_ask_to_transit()
    {
        LoginNegotiator n = Kit.Negotiator();
        LoginResponse first = n.Process(Kit.Request(Kit.Op, Kit.Ffp, false, Kit.Concat(Kit.Names(), Kit.OpenIscsiOperational)));
        Assert.False(first.Transit);
        Assert.False(n.Completed);
        Assert.Equal(Kit.Op, first.CurrentStage);

        LoginResponse second = n.Process(Kit.Request(Kit.Op, Kit.Ffp, true));
        Assert.True(second.Transit);
        Assert.True(second.Text.IsEmpty);
        Assert.True(n.Completed);
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(2, 1)]
    public void A_version_range_without_0_is_unsupported(byte min, byte max)
    {
        LoginNegotiator n = Kit.Negotiator();
        LoginResponse response = n.Process(Kit.Request(Kit.Op, Kit.Ffp, true, Kit.Names()) with { VersionMin = min, VersionMax = max });
        Kit.AssertFailed(n, response, LoginStatus.UnsupportedVersion);
    }

    [Fact]
    public void A_version_range_including_0_is_accepted()
    {
        LoginNegotiator n = Kit.Negotiator();
        LoginResponse response = n.Process(Kit.Request(Kit.Op, Kit.Ffp, false, Kit.Names()) with { VersionMin = 0, VersionMax = 2 });
        Assert.Equal(LoginStatus.Success, response.Status);
    }

    [Fact]
    public void The_first_request_must_name_the_initiator()
    {
        LoginNegotiator n = Kit.Negotiator();
        LoginResponse response = n.Process(Kit.Request(Kit.Op, Kit.Ffp, true, $"TargetName={Kit.TargetIqn}"));
        Kit.AssertFailed(n, response, LoginStatus.MissingParameter);
    }

    [Fact]
    public void A_normal_session_must_name_its_target()
    {
        LoginNegotiator n = Kit.Negotiator();
        LoginResponse response = n.Process(Kit.Request(Kit.Op, Kit.Ffp, true, $"InitiatorName={Kit.InitiatorIqn}"));
        Kit.AssertFailed(n, response, LoginStatus.MissingParameter);
    }

    [Fact]
    public void An_unknown_target_is_not_found()
    {
        LoginNegotiator n = Kit.Negotiator();
        LoginResponse response = n.Process(Kit.Request(Kit.Op, Kit.Ffp, true, Kit.Names("iqn.2026-11.io.strata:nope")));
        Kit.AssertFailed(n, response, LoginStatus.NotFound);
    }

    [Fact]
    public void An_unknown_session_type_is_not_supported()
    {
        LoginNegotiator n = Kit.Negotiator();
        LoginResponse response = n.Process(Kit.Request(Kit.Op, Kit.Ffp, true, $"InitiatorName={Kit.InitiatorIqn}", "SessionType=Admin"));
        Kit.AssertFailed(n, response, LoginStatus.SessionTypeNotSupported);
    }

    [Fact]
    public void An_over_long_initiator_name_is_an_initiator_error()
    {
        LoginNegotiator n = Kit.Negotiator();
        LoginResponse response = n.Process(Kit.Request(Kit.Op, Kit.Ffp, true, "InitiatorName=iqn.2000-01.x:" + new string('a', 220), $"TargetName={Kit.TargetIqn}"));
        Kit.AssertFailed(n, response, LoginStatus.InitiatorError);
    }

    [Fact]
    public void A_discovery_session_needs_no_target_name()
    {
        LoginNegotiator n = Kit.Negotiator();
        LoginResponse response = n.Process(Kit.Request(Kit.Sec, Kit.Ffp, true, $"InitiatorName={Kit.InitiatorIqn}", "SessionType=Discovery", "AuthMethod=None"));
        Assert.True(n.Completed);
        Assert.Equal([new("AuthMethod", "None")], Kit.Pairs(response.Text));
    }

    [Fact]
    public void Initiator_names_outside_the_ACL_are_not_authorized()
    {
        var restricted = new TargetLoginPolicy { Name = Kit.TargetIqn, AllowedInitiators = ["iqn.1994-05.com.redhat:other"] };
        LoginNegotiator n = Kit.Negotiator(Kit.Catalog(restricted));
        LoginResponse response = n.Process(Kit.Request(Kit.Op, Kit.Ffp, true, Kit.Names()));
        Kit.AssertFailed(n, response, LoginStatus.AuthorizationFailure);
    }

    [Fact]
    public void Initiator_names_in_the_ACL_match_ignoring_case()
    {
        var policy = new TargetLoginPolicy { Name = Kit.TargetIqn, AllowedInitiators = [Kit.InitiatorIqn.ToUpperInvariant()] };
        LoginNegotiator n = Kit.Negotiator(Kit.Catalog(policy));
        Assert.Equal(LoginStatus.Success, n.Process(Kit.Request(Kit.Op, Kit.Ffp, false, Kit.Names())).Status);
    }

    [Fact]
    public void Addresses_outside_the_allowed_networks_are_not_authorized()
    {
        var policy = new TargetLoginPolicy { Name = Kit.TargetIqn, AllowedNetworks = [IPNetwork.Parse("192.168.0.0/16")] };
        LoginNegotiator n = Kit.Negotiator(Kit.Catalog(policy));
        LoginResponse response = n.Process(Kit.Request(Kit.Op, Kit.Ffp, true, Kit.Names()));
        Kit.AssertFailed(n, response, LoginStatus.AuthorizationFailure);
    }

    [Fact]
    public void Allowed_networks_match_ipv4_and_ipv4_mapped_ipv6_peers()
    {
        var policy = new TargetLoginPolicy { Name = Kit.TargetIqn, AllowedNetworks = [IPNetwork.Parse("10.0.0.0/24")] };
        Assert.True(InitiatorAcl.Allows(policy, Kit.InitiatorIqn, IPAddress.Parse("10.0.0.5")));
        Assert.True(InitiatorAcl.Allows(policy, Kit.InitiatorIqn, IPAddress.Parse("::ffff:10.0.0.5")));
        Assert.False(InitiatorAcl.Allows(policy, Kit.InitiatorIqn, IPAddress.Parse("10.0.1.5")));

        var peer = new IPEndPoint(IPAddress.Parse("::ffff:10.0.0.9"), 1);
        LoginNegotiator n = Kit.Negotiator(Kit.Catalog(policy), peer: peer);
        Assert.Equal(LoginStatus.Success, n.Process(Kit.Request(Kit.Op, Kit.Ffp, false, Kit.Names())).Status);
    }

    [Theory]
    [InlineData(3, 3, false)] // CSG=3 is not a login stage
    [InlineData(2, 3, true)]  // CSG=2 is reserved
    [InlineData(0, 2, true)]  // NSG=2 is reserved
    [InlineData(1, 1, true)]  // transit to the stage it is in
    [InlineData(1, 0, true)]  // transit backwards
    public void Invalid_stages_are_initiator_errors(int csg, int nsg, bool transit)
    {
        LoginNegotiator n = Kit.Negotiator();
        LoginResponse response = n.Process(Kit.Request((LoginStage)csg, (LoginStage)nsg, transit, Kit.Concat(Kit.Names(), ["AuthMethod=None"])));
        Kit.AssertFailed(n, response, LoginStatus.InitiatorError);
    }

    [Fact]
    public void The_continue_bit_with_the_transit_bit_is_an_initiator_error()
    {
        LoginNegotiator n = Kit.Negotiator();
        LoginResponse response = n.Process(Kit.Request(Kit.Op, Kit.Ffp, true, Kit.Names()) with { Continue = true });
        Kit.AssertFailed(n, response, LoginStatus.InitiatorError);
    }

    [Fact]
    public void A_request_in_a_stage_the_login_has_left_is_an_initiator_error()
    {
        LoginNegotiator n = Kit.Negotiator();
        Assert.True(n.Process(Kit.Request(Kit.Sec, Kit.Op, true, Kit.Concat(Kit.Names(), ["AuthMethod=None"]))).Transit);
        LoginResponse response = n.Process(Kit.Request(Kit.Sec, Kit.Op, true));
        Kit.AssertFailed(n, response, LoginStatus.InitiatorError);
    }

    [Fact]
    public void After_a_failure_every_request_gets_the_same_failure()
    {
        LoginNegotiator n = Kit.Negotiator();
        LoginResponse failed = n.Process(Kit.Request(Kit.Op, Kit.Ffp, true, Kit.Names("iqn.x:missing")));
        LoginResponse again = n.Process(Kit.Request(Kit.Op, Kit.Ffp, true, Kit.Names()));
        Assert.Equal(LoginStatus.NotFound, again.Status);
        Assert.Equal(failed, again);
        Assert.NotNull(n.FailureReason);
    }

    [Fact]
    public void A_request_after_completion_is_an_initiator_error()
    {
        (LoginNegotiator n, LoginResponse done) = Kit.OperationalLogin(true, Kit.OpenIscsiOperational);
        Assert.True(n.Completed);
        LoginResponse response = n.Process(Kit.Request(Kit.Op, Kit.Ffp, true));
        Assert.Equal(LoginStatus.InitiatorError, response.Status);
        Assert.True(n.Failed);
    }

    [Fact]
    public void A_key_twice_in_one_request_is_an_initiator_error()
    {
        (LoginNegotiator n, LoginResponse response) = Kit.OperationalLogin(false, ["MaxBurstLength=262144", "MaxBurstLength=262144"]);
        Kit.AssertFailed(n, response, LoginStatus.InitiatorError);
    }

    [Fact]
    public void A_key_renegotiated_with_another_value_is_an_initiator_error()
    {
        (LoginNegotiator n, _) = Kit.OperationalLogin(false, ["MaxBurstLength=262144"]);
        LoginResponse response = n.Process(Kit.Request(Kit.Op, Kit.Ffp, false, "MaxBurstLength=65536"));
        Kit.AssertFailed(n, response, LoginStatus.InitiatorError);
    }

    [Fact]
    public void A_changed_target_name_is_an_initiator_error()
    {
        LoginNegotiator n = Kit.Negotiator(Kit.Catalog(Kit.Target(), Kit.Target(name: "iqn.2026-11.io.strata:vol2")));
        n.Process(Kit.Request(Kit.Sec, Kit.Op, true, Kit.Concat(Kit.Names(), ["AuthMethod=None"])));
        LoginResponse response = n.Process(Kit.Request(Kit.Op, Kit.Ffp, true, Kit.Names("iqn.2026-11.io.strata:vol2")));
        Kit.AssertFailed(n, response, LoginStatus.InitiatorError);
    }

    [Fact]
    public void A_session_type_declared_late_must_match()
    {
        (LoginNegotiator n, _) = Kit.OperationalLogin(false, []);
        Assert.Equal(LoginStatus.Success, n.Process(Kit.Request(Kit.Op, Kit.Ffp, false, "SessionType=Normal")).Status);
        LoginNegotiator m = Kit.Negotiator();
        m.Process(Kit.Request(Kit.Op, Kit.Ffp, false, $"InitiatorName={Kit.InitiatorIqn}", $"TargetName={Kit.TargetIqn}"));
        Kit.AssertFailed(m, m.Process(Kit.Request(Kit.Op, Kit.Ffp, false, "SessionType=Discovery")), LoginStatus.InitiatorError);
    }

    [Fact]
    public void Names_repeated_unchanged_in_a_later_request_are_accepted()
    {
        // libiscsi sends InitiatorName, TargetName and SessionType again in its first operational request.
        LoginNegotiator n = Kit.Negotiator();
        n.Process(Kit.Request(Kit.Sec, Kit.Op, true, Kit.Concat(Kit.Names(), ["AuthMethod=None"])));
        LoginResponse response = n.Process(Kit.Request(Kit.Op, Kit.Ffp, true, Kit.Concat(Kit.Names(), Kit.OpenIscsiOperational)));
        Assert.True(response.Transit);
        Assert.True(n.Completed);
    }

    [Fact]
    public void Operational_keys_in_the_security_stage_are_an_initiator_error()
    {
        LoginNegotiator n = Kit.Negotiator();
        LoginResponse response = n.Process(Kit.Request(Kit.Sec, Kit.Op, true, Kit.Concat(Kit.Names(), ["AuthMethod=None", "HeaderDigest=None"])));
        Kit.AssertFailed(n, response, LoginStatus.InitiatorError);
    }

    [Fact]
    public void Unknown_keys_in_the_security_stage_are_NotUnderstood()
    {
        LoginNegotiator n = Kit.Negotiator();
        LoginResponse response = n.Process(Kit.Request(Kit.Sec, Kit.Op, true, Kit.Concat(Kit.Names(), ["X-com.example.Hello=1", "AuthMethod=None"])));
        Assert.Equal("NotUnderstood", Kit.Keys(response)["X-com.example.Hello"]);
        Assert.True(response.Transit);
    }

    [Theory]
    [InlineData("InitiatorName=iqn.x\0TargetName", "missing terminator")]
    [InlineData("InitiatorName\0", "missing equals")]
    [InlineData("=x\0", "empty key")]
    public void Malformed_text_is_an_initiator_error(string text, string why)
    {
        LoginNegotiator n = Kit.Negotiator();
        LoginResponse response = n.Process(Kit.Request(Kit.Op, Kit.Ffp, true) with { Text = Encoding.UTF8.GetBytes(text) });
        Kit.AssertFailed(n, response, LoginStatus.InitiatorError);
        Assert.Contains("malformed", n.FailureReason, StringComparison.Ordinal);
        Assert.NotNull(why);
    }

    [Fact]
    public void An_over_long_key_is_an_initiator_error()
    {
        (LoginNegotiator n, LoginResponse response) = Kit.OperationalLogin(false, [new string('K', 64) + "=1"]);
        Kit.AssertFailed(n, response, LoginStatus.InitiatorError);
    }

    [Fact]
    public void A_catalog_without_the_optional_member_has_no_discovery_mutual_chap()
    {
        ITargetCatalog catalog = new MinimalCatalog(Kit.Target());
        Assert.Null(catalog.DiscoveryMutualChap);
        LoginNegotiator n = Kit.Negotiator(catalog);
        Assert.True(n.Process(Kit.Request(Kit.Op, Kit.Ffp, true, Kit.Concat(Kit.Names(), Kit.OpenIscsiOperational))).Transit);
    }
}
