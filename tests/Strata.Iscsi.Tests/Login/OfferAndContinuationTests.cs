using System.Text;
using Strata.Iscsi.Login;
using Xunit;

namespace Strata.Iscsi.Tests.Login;

/// <summary>Our offers of keys the initiator left at worse defaults, and text continuation both ways.</summary>
public sealed class OfferAndContinuationTests
{
    [Fact]
    public void Keys_left_at_worse_defaults_are_offered_with_T0_and_replies_are_taken()
    {
        (LoginNegotiator n, LoginResponse offer) = Kit.OperationalLogin(true, ["HeaderDigest=None", "MaxRecvDataSegmentLength=65536"]);
        Assert.False(offer.Transit);
        Assert.False(n.Completed);
        Dictionary<string, string> keys = Kit.Keys(offer);
        Assert.Equal("No", keys["InitialR2T"]);
        Assert.Equal("16776192", keys["MaxBurstLength"]);
        Assert.Equal("16776192", keys["FirstBurstLength"]);
        Assert.False(keys.ContainsKey("ImmediateData")); // Yes is already the default

        LoginResponse done = n.Process(Kit.Request(Kit.Op, Kit.Ffp, true, "InitialR2T=No", "MaxBurstLength=1048576", "FirstBurstLength=262144"));
        Assert.True(done.Transit);
        Assert.True(done.Text.IsEmpty);
        Assert.True(n.Completed);
        Assert.False(n.Parameters.InitialR2T);
        Assert.Equal(1048576, n.Parameters.MaxBurstLength);
        Assert.Equal(262144, n.Parameters.FirstBurstLength);
    }

    [Fact]
    public void A_reply_may_move_a_boolean_only_the_way_its_function_allows()
    {
        (LoginNegotiator or, _) = Kit.OperationalLogin(true, []);
        Assert.True(or.Process(Kit.Request(Kit.Op, Kit.Ffp, true, "InitialR2T=Yes", "MaxBurstLength=262144", "FirstBurstLength=65536")).Transit);
        Assert.True(or.Parameters.InitialR2T);

        var limits = new TargetNegotiationLimits { ImmediateData = false };
        (LoginNegotiator and, LoginResponse offer) = Kit.OperationalLogin(true, [], limits);
        Assert.Equal("No", Kit.Keys(offer)["ImmediateData"]);
        Kit.AssertFailed(and, and.Process(Kit.Request(Kit.Op, Kit.Ffp, true, "ImmediateData=Yes", "InitialR2T=No", "MaxBurstLength=262144", "FirstBurstLength=65536")), LoginStatus.InitiatorError);
    }

    [Fact]
    public void A_reply_above_a_minimum_offer_fails()
    {
        (LoginNegotiator n, _) = Kit.OperationalLogin(true, [], new TargetNegotiationLimits { MaxBurstLength = 1048576, FirstBurstLength = 1048576 });
        Kit.AssertFailed(n, n.Process(Kit.Request(Kit.Op, Kit.Ffp, true, "InitialR2T=No", "MaxBurstLength=2097152", "FirstBurstLength=65536")), LoginStatus.InitiatorError);
    }

    [Fact]
    public void A_Reject_reply_keeps_the_default()
    {
        (LoginNegotiator n, _) = Kit.OperationalLogin(true, []);
        LoginResponse done = n.Process(Kit.Request(Kit.Op, Kit.Ffp, true, "InitialR2T=Reject", "MaxBurstLength=NotUnderstood", "FirstBurstLength=Irrelevant"));
        Assert.True(done.Transit);
        Assert.True(n.Parameters.InitialR2T);
        Assert.Equal(262144, n.Parameters.MaxBurstLength);
        Assert.Equal(65536, n.Parameters.FirstBurstLength);
    }

    [Fact]
    public void Transiting_without_answering_our_offers_fails()
    {
        (LoginNegotiator n, _) = Kit.OperationalLogin(true, []);
        Kit.AssertFailed(n, n.Process(Kit.Request(Kit.Op, Kit.Ffp, true)), LoginStatus.InitiatorError);
    }

    [Fact]
    public void Nothing_is_offered_when_the_initiator_asked_for_InitialR2T_Yes_and_ImmediateData_No()
    {
        (LoginNegotiator n, LoginResponse response) = Kit.OperationalLogin(true, ["InitialR2T=Yes", "ImmediateData=No", "MaxBurstLength=262144"]);
        Assert.True(response.Transit);
        Assert.True(n.Completed);
        Assert.False(Kit.Keys(response).ContainsKey("FirstBurstLength"));
    }

    [Fact]
    public void FirstBurstLength_is_clamped_to_a_later_smaller_MaxBurstLength()
    {
        (LoginNegotiator n, LoginResponse first) = Kit.OperationalLogin(false, ["FirstBurstLength=262144", "InitialR2T=No"]);
        Assert.Equal("262144", Kit.Keys(first)["FirstBurstLength"]);
        LoginResponse done = n.Process(Kit.Request(Kit.Op, Kit.Ffp, true, "MaxBurstLength=131072"));
        Assert.True(done.Transit);
        Assert.Equal(131072, n.Parameters.MaxBurstLength);
        Assert.Equal(131072, n.Parameters.FirstBurstLength);
    }

    [Fact]
    public void Requests_with_C1_are_joined_and_acknowledged_with_empty_responses()
    {
        byte[] whole = Kit.Text(Kit.Concat(Kit.Names(), Kit.OpenIscsiOperational));
        LoginNegotiator n = Kit.Negotiator();
        int cut1 = 20, cut2 = 200; // the first cut splits "InitiatorName=..." in the middle
        LoginResponse a = n.Process(Kit.Request(Kit.Op, Kit.Ffp, false) with { Continue = true, Text = whole[..cut1] });
        LoginResponse b = n.Process(Kit.Request(Kit.Op, Kit.Ffp, false) with { Continue = true, Text = whole[cut1..cut2] });
        foreach (LoginResponse ack in new[] { a, b })
        {
            Assert.Equal(LoginStatus.Success, ack.Status);
            Assert.False(ack.Transit);
            Assert.False(ack.Continue);
            Assert.True(ack.Text.IsEmpty);
        }

        LoginResponse last = n.Process(Kit.Request(Kit.Op, Kit.Ffp, true) with { Text = whole[cut2..] });
        Assert.True(last.Transit);
        Assert.True(n.Completed);
        Assert.Equal(Kit.InitiatorIqn, n.Parameters.InitiatorName);
        Assert.Equal("1", Kit.Keys(last)["TargetPortalGroupTag"]);
    }

    [Fact]
    public void Joined_text_over_64_KiB_is_an_initiator_error()
    {
        LoginNegotiator n = Kit.Negotiator();
        byte[] part = Kit.Text("X-pad=" + new string('p', 8000));
        LoginResponse response = default;
        for (int i = 0; i < 9 && !n.Failed; i++)
        {
            response = n.Process(Kit.Request(Kit.Op, Kit.Ffp, false) with { Continue = true, Text = part });
        }

        Kit.AssertFailed(n, response, LoginStatus.InitiatorError);
    }

    [Fact]
    public void Responses_over_8192_bytes_are_sent_in_pieces_with_C1()
    {
        // 300 vendor keys of 60 bytes each: the NotUnderstood answers come to about 22 KB.
        string[] vendor = Enumerable.Range(0, 300).Select(i => $"X-com.example.{i:D4}.{new string('k', 41)}=1").ToArray();
        byte[] whole = Kit.Text(Kit.Concat(Kit.Names(), Kit.OpenIscsiOperational, vendor));
        LoginNegotiator n = Kit.Negotiator();
        for (int offset = 0; offset < whole.Length; offset += 8192)
        {
            bool last = offset + 8192 >= whole.Length;
            LoginResponse r = n.Process(Kit.Request(Kit.Op, Kit.Ffp, last) with { Continue = !last, Text = whole[offset..Math.Min(whole.Length, offset + 8192)] });
            if (!last)
            {
                Assert.True(r.Text.IsEmpty);
                continue;
            }

            var received = new List<byte>();
            int pieces = 1;
            while (r.Continue)
            {
                Assert.False(r.Transit);
                Assert.Equal(8192, r.Text.Length);
                Assert.False(n.Completed);
                received.AddRange(r.Text.ToArray());
                r = n.Process(Kit.Request(Kit.Op, Kit.Ffp, true));
                pieces++;
            }

            received.AddRange(r.Text.ToArray());
            Assert.True(r.Transit);
            Assert.True(n.Completed);
            Assert.Equal(3, pieces);
            List<TextKeyValue> answers = Kit.Pairs(received.ToArray());
            Assert.Equal(300, answers.Count(p => p.Value == "NotUnderstood"));
            Assert.Contains(new TextKeyValue("MaxBurstLength", "16776192"), answers);
        }
    }

    [Fact]
    public void Text_while_a_response_is_being_continued_is_an_initiator_error()
    {
        string[] vendor = Enumerable.Range(0, 200).Select(i => $"X-com.example.{i:D4}.{new string('k', 41)}=1").ToArray();
        LoginNegotiator n = Kit.Negotiator();
        n.Process(Kit.Request(Kit.Op, Kit.Ffp, false) with { Continue = true, Text = Kit.Text(Kit.Concat(Kit.Names(), vendor[..100])) });
        LoginResponse first = n.Process(Kit.Request(Kit.Op, Kit.Ffp, true, vendor[100..]));
        Assert.True(first.Continue);
        Kit.AssertFailed(n, n.Process(Kit.Request(Kit.Op, Kit.Ffp, true, "HeaderDigest=None")), LoginStatus.InitiatorError);
    }

    [Fact]
    public void A_login_text_is_utf8()
    {
        (LoginNegotiator n, _) = Kit.OperationalLogin(false, ["InitiatorAlias=ホスト"]);
        Assert.Equal("ホスト", n.Parameters.InitiatorAlias);
        Assert.Equal(9, Encoding.UTF8.GetByteCount(n.Parameters.InitiatorAlias!));
    }
}
