using Strata.Iscsi.Login;
using Xunit;

namespace Strata.Iscsi.Tests.Login;

/// <summary>The answer and result of every RFC 7143 section 13 key, offered alone by the initiator.</summary>
public sealed class OperationalKeyTests
{
    [Theory]
    [InlineData("HeaderDigest=CRC32C,None", "CRC32C", true)]
    [InlineData("HeaderDigest=None,CRC32C", "None", false)]
    [InlineData("HeaderDigest=SHA1,CRC32C", "CRC32C", true)]
    [InlineData("HeaderDigest=None", "None", false)]
    [InlineData("HeaderDigest=SHA1", "Reject", false)]
    public void HeaderDigest_is_the_first_listed_digest_we_support(string offer, string answer, bool enabled)
    {
        Assert.Equal(answer, Kit.AnswerTo(offer, out LoginNegotiator negotiator));
        Assert.Equal(enabled, negotiator.Parameters.HeaderDigest);
    }

    [Theory]
    [InlineData("DataDigest=CRC32C", "CRC32C", true)]
    [InlineData("DataDigest=None,CRC32C", "None", false)]
    [InlineData("DataDigest=crc32c", "Reject", false)]
    public void DataDigest_is_the_first_listed_digest_we_support(string offer, string answer, bool enabled)
    {
        Assert.Equal(answer, Kit.AnswerTo(offer, out LoginNegotiator negotiator));
        Assert.Equal(enabled, negotiator.Parameters.DataDigest);
    }

    [Theory]
    [InlineData("MaxConnections=4", "1")]
    [InlineData("MaxConnections=1", "1")]
    [InlineData("MaxConnections=0", "Reject")]
    [InlineData("MaxConnections=65536", "Reject")]
    public void MaxConnections_is_the_minimum(string offer, string answer)
    {
        Assert.Equal(answer, Kit.AnswerTo(offer));
    }

    [Fact]
    public void MaxConnections_takes_the_smaller_offer()
    {
        Assert.Equal("4", Kit.AnswerTo("MaxConnections=4", out LoginNegotiator n, new TargetNegotiationLimits { MaxConnections = 8 }));
        Assert.Equal(4, n.Parameters.MaxConnections);
    }

    [Theory]
    [InlineData("InitialR2T=Yes", "Yes", true)]
    [InlineData("InitialR2T=No", "No", false)]
    [InlineData("InitialR2T=no", "Reject", true)]
    public void InitialR2T_is_OR_with_our_No(string offer, string answer, bool result)
    {
        Assert.Equal(answer, Kit.AnswerTo(offer, out LoginNegotiator n));
        Assert.Equal(result, n.Parameters.InitialR2T);
    }

    [Fact]
    public void InitialR2T_is_Yes_when_we_want_Yes()
    {
        Assert.Equal("Yes", Kit.AnswerTo("InitialR2T=No", new TargetNegotiationLimits { InitialR2T = true }));
    }

    [Theory]
    [InlineData("ImmediateData=Yes", "Yes", true)]
    [InlineData("ImmediateData=No", "No", false)]
    [InlineData("ImmediateData=1", "Reject", true)]
    public void ImmediateData_is_AND_with_our_Yes(string offer, string answer, bool result)
    {
        Assert.Equal(answer, Kit.AnswerTo(offer, out LoginNegotiator n));
        Assert.Equal(result, n.Parameters.ImmediateData);
    }

    [Fact]
    public void ImmediateData_is_No_when_we_want_No()
    {
        Assert.Equal("No", Kit.AnswerTo("ImmediateData=Yes", new TargetNegotiationLimits { ImmediateData = false }));
    }

    [Theory]
    [InlineData("MaxBurstLength=1048576", "1048576")]
    [InlineData("MaxBurstLength=0x100000", "1048576")]
    [InlineData("MaxBurstLength=16777215", "16776192")]
    [InlineData("MaxBurstLength=512", "512")]
    [InlineData("MaxBurstLength=511", "Reject")]
    [InlineData("MaxBurstLength=16777216", "Reject")]
    [InlineData("MaxBurstLength=big", "Reject")]
    public void MaxBurstLength_is_the_minimum_within_512_to_2_pow_24_minus_1(string offer, string answer)
    {
        Assert.Equal(answer, Kit.AnswerTo(offer));
    }

    [Fact]
    public void MaxBurstLength_is_capped_by_our_limit()
    {
        Assert.Equal("262144", Kit.AnswerTo("MaxBurstLength=1048576", out LoginNegotiator n, new TargetNegotiationLimits { MaxBurstLength = 262144 }));
        Assert.Equal(262144, n.Parameters.MaxBurstLength);
    }

    [Theory]
    [InlineData("FirstBurstLength=65536", "65536")]
    [InlineData("FirstBurstLength=262144", "262144")]
    [InlineData("FirstBurstLength=16776192", "262144")] // never above the (default) MaxBurstLength
    [InlineData("FirstBurstLength=100", "Reject")]
    public void FirstBurstLength_is_the_minimum_and_at_most_MaxBurstLength(string offer, string answer)
    {
        Assert.Equal(answer, Kit.AnswerTo(offer));
    }

    [Fact]
    public void FirstBurstLength_follows_MaxBurstLength_sent_after_it_in_the_same_request()
    {
        (_, LoginResponse response) = Kit.OperationalLogin(false, ["FirstBurstLength=1048576", "MaxBurstLength=524288"]);
        Dictionary<string, string> keys = Kit.Keys(response);
        Assert.Equal("524288", keys["MaxBurstLength"]);
        Assert.Equal("524288", keys["FirstBurstLength"]);
    }

    [Fact]
    public void FirstBurstLength_is_irrelevant_with_InitialR2T_Yes_and_ImmediateData_No()
    {
        (LoginNegotiator n, LoginResponse response) = Kit.OperationalLogin(false, ["FirstBurstLength=65536", "InitialR2T=Yes", "ImmediateData=No"]);
        Dictionary<string, string> keys = Kit.Keys(response);
        Assert.Equal("Irrelevant", keys["FirstBurstLength"]);
        Assert.Equal("Yes", keys["InitialR2T"]);
        Assert.Equal("No", keys["ImmediateData"]);
        Assert.Equal(65536, n.Parameters.FirstBurstLength);
    }

    [Theory]
    [InlineData("DefaultTime2Wait=0", "2")]
    [InlineData("DefaultTime2Wait=10", "10")]
    [InlineData("DefaultTime2Wait=3600", "3600")]
    [InlineData("DefaultTime2Wait=3601", "Reject")]
    public void DefaultTime2Wait_is_the_maximum(string offer, string answer)
    {
        Assert.Equal(answer, Kit.AnswerTo(offer));
    }

    [Theory]
    [InlineData("DefaultTime2Retain=20", "0", 0)]
    [InlineData("DefaultTime2Retain=0", "0", 0)]
    [InlineData("DefaultTime2Retain=3601", "Reject", 20)]
    public void DefaultTime2Retain_is_the_minimum(string offer, string answer, int result)
    {
        Assert.Equal(answer, Kit.AnswerTo(offer, out LoginNegotiator n));
        Assert.Equal(result, n.Parameters.DefaultTime2Retain);
    }

    [Fact]
    public void DefaultTime2Retain_takes_the_smaller_offer()
    {
        Assert.Equal("5", Kit.AnswerTo("DefaultTime2Retain=5", new TargetNegotiationLimits { DefaultTime2Retain = 20 }));
    }

    [Theory]
    [InlineData("MaxOutstandingR2T=1", "1")]
    [InlineData("MaxOutstandingR2T=64", "16")]
    [InlineData("MaxOutstandingR2T=0", "Reject")]
    [InlineData("MaxOutstandingR2T=65536", "Reject")]
    public void MaxOutstandingR2T_is_the_minimum(string offer, string answer)
    {
        Assert.Equal(answer, Kit.AnswerTo(offer));
    }

    [Theory]
    [InlineData("DataPDUInOrder=No", "Yes")]
    [InlineData("DataPDUInOrder=Yes", "Yes")]
    [InlineData("DataSequenceInOrder=No", "Yes")]
    [InlineData("DataSequenceInOrder=Yes", "Yes")]
    [InlineData("DataSequenceInOrder=Maybe", "Reject")]
    public void In_order_keys_are_OR_with_our_Yes(string offer, string answer)
    {
        Assert.Equal(answer, Kit.AnswerTo(offer, out LoginNegotiator n));
        Assert.True(n.Parameters.DataPduInOrder);
        Assert.True(n.Parameters.DataSequenceInOrder);
    }

    [Theory]
    [InlineData("ErrorRecoveryLevel=2", "0")]
    [InlineData("ErrorRecoveryLevel=0", "0")]
    [InlineData("ErrorRecoveryLevel=3", "Reject")]
    public void ErrorRecoveryLevel_is_the_minimum(string offer, string answer)
    {
        Assert.Equal(answer, Kit.AnswerTo(offer));
    }

    [Fact]
    public void MaxRecvDataSegmentLength_is_declared_by_each_side()
    {
        (LoginNegotiator n, LoginResponse response) = Kit.OperationalLogin(false, ["MaxRecvDataSegmentLength=65536"]);
        Dictionary<string, string> keys = Kit.Keys(response);
        // Ours, declared unasked; theirs recorded, not answered.
        Assert.Equal("262144", keys["MaxRecvDataSegmentLength"]);
        Assert.Equal(65536, n.Parameters.InitiatorMaxRecvDataSegmentLength);
        Assert.Equal(262144, n.Parameters.TargetMaxRecvDataSegmentLength);
    }

    [Fact]
    public void MaxRecvDataSegmentLength_is_declared_once_per_stage()
    {
        (LoginNegotiator n, _) = Kit.OperationalLogin(false, []);
        LoginResponse second = n.Process(Kit.Request(Kit.Op, Kit.Ffp, false, "DefaultTime2Wait=2"));
        Assert.False(Kit.Keys(second).ContainsKey("MaxRecvDataSegmentLength"));
    }

    [Theory]
    [InlineData("MaxRecvDataSegmentLength=511")]
    [InlineData("MaxRecvDataSegmentLength=16777216")]
    [InlineData("MaxRecvDataSegmentLength=lots")]
    public void MaxRecvDataSegmentLength_out_of_range_fails_the_login(string pair)
    {
        (LoginNegotiator n, LoginResponse response) = Kit.OperationalLogin(true, [pair]);
        Kit.AssertFailed(n, response, LoginStatus.InitiatorError);
    }

    [Theory]
    [InlineData("IFMarker=No", "No")]
    [InlineData("OFMarker=Yes", "No")]
    [InlineData("OFMarkInt=2048~8192", "Reject")]
    [InlineData("IFMarkInt=2048", "Reject")]
    public void Obsolete_marker_keys_are_answered_never_NotUnderstood(string offer, string answer)
    {
        Assert.Equal(answer, Kit.AnswerTo(offer));
    }

    [Theory]
    [InlineData("iSCSIProtocolLevel=2", "1")]
    [InlineData("iSCSIProtocolLevel=1", "1")]
    [InlineData("iSCSIProtocolLevel=0", "0")]
    [InlineData("iSCSIProtocolLevel=32", "Reject")]
    [InlineData("TaskReporting=ResponseFence,RFC3720", "RFC3720")]
    [InlineData("TaskReporting=FastAbort", "Reject")]
    public void Rfc7144_keys(string offer, string answer)
    {
        Assert.Equal(answer, Kit.AnswerTo(offer));
    }

    [Theory]
    [InlineData("X-com.example.Fast=Yes")]
    [InlineData("X#org.example.key=1")]
    [InlineData("FutureKey=1")]
    [InlineData("lowercase=1")]
    public void Unknown_and_vendor_keys_are_NotUnderstood(string offer)
    {
        Assert.Equal("NotUnderstood", Kit.AnswerTo(offer));
    }

    [Fact]
    public void SendTargets_during_login_is_irrelevant()
    {
        Assert.Equal("Irrelevant", Kit.AnswerTo("SendTargets=All"));
    }

    [Fact]
    public void A_value_longer_than_255_bytes_is_rejected()
    {
        Assert.Equal("Reject", Kit.AnswerTo("HeaderDigest=" + string.Join(',', Enumerable.Repeat("CRC32C", 40))));
    }

    [Theory]
    [InlineData("TargetAlias=evil")]
    [InlineData("TargetAddress=10.0.0.9:3260,1")]
    [InlineData("TargetPortalGroupTag=7")]
    public void Target_only_keys_from_the_initiator_fail_the_login(string pair)
    {
        (LoginNegotiator n, LoginResponse response) = Kit.OperationalLogin(false, [pair]);
        Kit.AssertFailed(n, response, LoginStatus.InitiatorError);
    }

    [Theory]
    [InlineData("AuthMethod=None")]
    [InlineData("CHAP_A=5")]
    public void Security_keys_in_the_operational_stage_fail_the_login(string pair)
    {
        (LoginNegotiator n, LoginResponse response) = Kit.OperationalLogin(false, [pair]);
        Kit.AssertFailed(n, response, LoginStatus.InitiatorError);
    }

    [Fact]
    public void Normal_session_keys_are_irrelevant_in_a_discovery_session()
    {
        LoginNegotiator n = Kit.Negotiator();
        LoginResponse response = n.Process(Kit.Request(Kit.Op, Kit.Ffp, true,
            $"InitiatorName={Kit.InitiatorIqn}", "SessionType=Discovery",
            "InitialR2T=No", "ImmediateData=Yes", "MaxBurstLength=262144", "FirstBurstLength=65536",
            "MaxOutstandingR2T=1", "DataPDUInOrder=Yes", "DataSequenceInOrder=Yes", "MaxConnections=1",
            "TaskReporting=RFC3720",
            "HeaderDigest=None", "ErrorRecoveryLevel=0", "DefaultTime2Wait=2", "DefaultTime2Retain=0",
            "MaxRecvDataSegmentLength=32768"));
        Dictionary<string, string> keys = Kit.Keys(response);
        foreach (string key in new[] { "InitialR2T", "ImmediateData", "MaxBurstLength", "FirstBurstLength", "MaxOutstandingR2T", "DataPDUInOrder", "DataSequenceInOrder", "MaxConnections", "TaskReporting" })
        {
            Assert.Equal("Irrelevant", keys[key]);
        }

        // open-iscsi fails a discovery login unless these are answered for real.
        Assert.Equal("None", keys["HeaderDigest"]);
        Assert.Equal("0", keys["ErrorRecoveryLevel"]);
        Assert.Equal("2", keys["DefaultTime2Wait"]);
        Assert.Equal("0", keys["DefaultTime2Retain"]);
        Assert.False(keys.ContainsKey("TargetPortalGroupTag"));
        Assert.True(response.Transit);
        Assert.True(n.Completed);
        Assert.Equal(SessionType.Discovery, n.Parameters.SessionType);
        Assert.Equal(32768, n.Parameters.InitiatorMaxRecvDataSegmentLength);
        Assert.Null(n.Target);
    }

    [Fact]
    public void Leading_only_keys_are_irrelevant_on_a_connection_joining_a_session()
    {
        LoginNegotiator n = Kit.Negotiator();
        var request = Kit.Request(Kit.Op, Kit.Ffp, true, Kit.Concat(Kit.Names(), ["MaxBurstLength=262144", "ErrorRecoveryLevel=0", "HeaderDigest=CRC32C", "MaxRecvDataSegmentLength=8192"])) with { Tsih = 7 };
        LoginResponse response = n.Process(request);
        Dictionary<string, string> keys = Kit.Keys(response);
        Assert.False(n.IsLeadingConnection);
        Assert.Equal("Irrelevant", keys["MaxBurstLength"]);
        Assert.Equal("Irrelevant", keys["ErrorRecoveryLevel"]);
        Assert.Equal("CRC32C", keys["HeaderDigest"]);
        // No offers of session-wide keys on a non-leading connection: it completes at once.
        Assert.True(response.Transit);
        Assert.True(n.Completed);
    }
}
