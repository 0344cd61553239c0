using System.Net;
using System.Text;
using Strata.Iscsi.Login;
using Xunit;

namespace Strata.Iscsi.Tests.Login;

/// <summary>SendTargets (RFC 7143 Appendix C) and Text Requests in the full feature phase.</summary>
public sealed class DiscoveryTests
{
    private static FakeCatalog ThreeTargets()
    {
        var open = new TargetLoginPolicy { Name = "iqn.2026-11.io.strata:a", Portals = [("10.0.0.1:3260", 1), ("[fd00::1]:3260", 2)] };
        var hiddenByName = new TargetLoginPolicy { Name = "iqn.2026-11.io.strata:b", AllowedInitiators = ["iqn.1994-05.com.redhat:other"], Portals = [("10.0.0.1:3260", 1)] };
        var hiddenByNet = new TargetLoginPolicy { Name = "iqn.2026-11.io.strata:c", AllowedNetworks = [IPNetwork.Parse("192.168.0.0/16")], Portals = [("10.0.0.1:3260", 1)] };
        var noPortals = new TargetLoginPolicy { Name = "iqn.2026-11.io.strata:d" };
        return Kit.Catalog(open, hiddenByName, hiddenByNet, noPortals);
    }

    private static FullFeatureTextNegotiator DiscoverySession(ITargetCatalog catalog)
    {
        LoginNegotiator n = Kit.Negotiator(catalog);
        LoginResponse r = n.Process(Kit.Request(Kit.Sec, Kit.Ffp, true, $"InitiatorName={Kit.InitiatorIqn}", "SessionType=Discovery", "AuthMethod=None"));
        Assert.True(r.Transit);
        return n.CreateFullFeatureTextNegotiator();
    }

    private static FullFeatureTextNegotiator NormalSession(ITargetCatalog catalog, string target)
    {
        LoginNegotiator n = Kit.Negotiator(catalog);
        LoginResponse r = n.Process(Kit.Request(Kit.Op, Kit.Ffp, true, Kit.Concat(Kit.Names(target), Kit.OpenIscsiOperational)));
        Assert.True(r.Transit);
        return n.CreateFullFeatureTextNegotiator();
    }

    private static string Answer(FullFeatureTextNegotiator t, params string[] pairs)
    {
        TextNegotiationResult result = t.Process(Kit.Text(pairs));
        Assert.Equal(TextFormatError.None, result.Error);
        return Encoding.UTF8.GetString(result.Response.Span);
    }

    [Fact]
    public void SendTargets_All_lists_the_targets_the_initiator_may_see()
    {
        Assert.Equal(
            "TargetName=iqn.2026-11.io.strata:a\0TargetAddress=10.0.0.1:3260,1\0TargetAddress=[fd00::1]:3260,2\0" +
            "TargetName=iqn.2026-11.io.strata:d\0",
            Answer(DiscoverySession(ThreeTargets()), "SendTargets=All"));
    }

    [Fact]
    public void SendTargets_with_a_name_in_discovery_reports_that_target_if_visible()
    {
        FullFeatureTextNegotiator t = DiscoverySession(ThreeTargets());
        Assert.Equal("TargetName=iqn.2026-11.io.strata:a\0TargetAddress=10.0.0.1:3260,1\0TargetAddress=[fd00::1]:3260,2\0", Answer(t, "SendTargets=iqn.2026-11.io.strata:a"));
        Assert.Equal("", Answer(t, "SendTargets=iqn.2026-11.io.strata:b"));
        Assert.Equal("", Answer(t, "SendTargets=iqn.2026-11.io.strata:zzz"));
        Assert.Equal("", Answer(t, "SendTargets="));
    }

    [Fact]
    public void SendTargets_in_a_normal_session_reports_only_the_session_target()
    {
        FullFeatureTextNegotiator t = NormalSession(ThreeTargets(), "iqn.2026-11.io.strata:a");
        const string own = "TargetName=iqn.2026-11.io.strata:a\0TargetAddress=10.0.0.1:3260,1\0TargetAddress=[fd00::1]:3260,2\0";
        Assert.Equal(own, Answer(t, "SendTargets="));
        Assert.Equal(own, Answer(t, "SendTargets=iqn.2026-11.io.strata:a"));
        Assert.Equal("", Answer(t, "SendTargets=iqn.2026-11.io.strata:d"));
        Assert.Equal("SendTargets=Reject\0", Answer(t, "SendTargets=All"));
    }

    [Fact]
    public void The_responder_can_be_used_directly()
    {
        var builder = new KeyValueBuilder();
        new SendTargetsResponder(ThreeTargets()).Respond("All", SessionType.Discovery, null, "iqn.1994-05.com.redhat:other", IPAddress.Parse("192.168.1.1"), builder);
        List<string> names = Kit.Pairs(builder.WrittenMemory).Where(p => p.Key == "TargetName").Select(p => p.Value).ToList();
        Assert.Equal(["iqn.2026-11.io.strata:a", "iqn.2026-11.io.strata:b", "iqn.2026-11.io.strata:c", "iqn.2026-11.io.strata:d"], names);
    }

    [Fact]
    public void Full_feature_text_answers_unknown_keys_and_login_only_keys()
    {
        FullFeatureTextNegotiator t = NormalSession(ThreeTargets(), "iqn.2026-11.io.strata:a");
        Assert.Equal("X-com.example.Foo=NotUnderstood\0MaxBurstLength=Reject\0HeaderDigest=Reject\0TargetAlias=Reject\0",
            Answer(t, "X-com.example.Foo=1", "MaxBurstLength=65536", "HeaderDigest=CRC32C", "TargetAlias=x"));
    }

    [Fact]
    public void Full_feature_text_takes_a_new_MaxRecvDataSegmentLength()
    {
        LoginNegotiator n = Kit.Negotiator(ThreeTargets());
        n.Process(Kit.Request(Kit.Op, Kit.Ffp, true, Kit.Concat(Kit.Names("iqn.2026-11.io.strata:a"), Kit.OpenIscsiOperational)));
        FullFeatureTextNegotiator t = n.CreateFullFeatureTextNegotiator();

        TextNegotiationResult changed = t.Process(Kit.Text("MaxRecvDataSegmentLength=65536", "InitiatorAlias=renamed"));
        Assert.True(changed.InitiatorMaxRecvDataSegmentLengthChanged);
        Assert.True(changed.Response.IsEmpty);
        Assert.Equal(65536, n.Parameters.InitiatorMaxRecvDataSegmentLength);
        Assert.Equal("renamed", n.Parameters.InitiatorAlias);

        TextNegotiationResult bad = t.Process(Kit.Text("MaxRecvDataSegmentLength=100"));
        Assert.False(bad.InitiatorMaxRecvDataSegmentLengthChanged);
        Assert.Equal("MaxRecvDataSegmentLength=Reject\0", Encoding.UTF8.GetString(bad.Response.Span));
        Assert.Equal(65536, n.Parameters.InitiatorMaxRecvDataSegmentLength);
    }

    [Fact]
    public void Full_feature_text_reports_malformed_and_duplicate_keys()
    {
        FullFeatureTextNegotiator t = DiscoverySession(ThreeTargets());
        Assert.Equal(TextFormatError.MissingEquals, t.Process("SendTargets\0"u8).Error);
        Assert.Equal(TextFormatError.MissingTerminator, t.Process("SendTargets=All"u8).Error);
        Assert.Equal(TextFormatError.DuplicateKey, t.Process(Kit.Text("SendTargets=All", "SendTargets=All")).Error);
    }

    [Fact]
    public void The_full_feature_negotiator_needs_a_completed_login()
    {
        LoginNegotiator n = Kit.Negotiator();
        Assert.Throws<InvalidOperationException>(() => n.CreateFullFeatureTextNegotiator());
    }

    [Fact]
    public void Open_iscsi_discovery_login_then_SendTargets()
    {
        // iscsiadm -m discovery: security stage with AuthMethod=None, then the discovery operational keys.
        LoginNegotiator n = Kit.Negotiator(ThreeTargets());
        LoginResponse sec = n.Process(Kit.Request(Kit.Sec, Kit.Op, true, $"InitiatorName={Kit.InitiatorIqn}", "InitiatorAlias=node1", "SessionType=Discovery", "AuthMethod=None"));
        Assert.Equal([new("AuthMethod", "None")], Kit.Pairs(sec.Text));
        LoginResponse op = n.Process(Kit.Request(Kit.Op, Kit.Ffp, true,
            "HeaderDigest=None", "DataDigest=None", "DefaultTime2Wait=2", "DefaultTime2Retain=0", "IFMarker=No", "OFMarker=No",
            "ErrorRecoveryLevel=0", "MaxRecvDataSegmentLength=32768"));
        Assert.True(op.Transit);
        Assert.Equal(
        [
            new("MaxRecvDataSegmentLength", "262144"), new("HeaderDigest", "None"), new("DataDigest", "None"),
            new("DefaultTime2Wait", "2"), new("DefaultTime2Retain", "0"), new("IFMarker", "No"), new("OFMarker", "No"),
            new("ErrorRecoveryLevel", "0"),
        ],
            Kit.Pairs(op.Text));
        Assert.StartsWith("TargetName=iqn.2026-11.io.strata:a\0", Answer(n.CreateFullFeatureTextNegotiator(), "SendTargets=All"), StringComparison.Ordinal);
    }
}
