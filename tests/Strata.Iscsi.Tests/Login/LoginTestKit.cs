using System.Net;
using System.Security.Cryptography;
using System.Text;
using Strata.Iscsi.Login;
using Xunit;

namespace Strata.Iscsi.Tests.Login;

internal sealed class FakeCatalog : ITargetCatalog
{
    public List<TargetLoginPolicy> List { get; } = [];

    public IEnumerable<TargetLoginPolicy> Targets => List;

    public ChapCredentials? DiscoveryChap { get; init; }

    public ChapCredentials? DiscoveryMutualChap { get; init; }

    public TargetLoginPolicy? Find(string targetName) => List.FirstOrDefault(t => t.Name == targetName);
}

/// <summary>A catalog written without the optional DiscoveryMutualChap member.</summary>
internal sealed class MinimalCatalog(TargetLoginPolicy target) : ITargetCatalog
{
    public IEnumerable<TargetLoginPolicy> Targets => [target];

    public ChapCredentials? DiscoveryChap => null;

    public TargetLoginPolicy? Find(string targetName) => targetName == target.Name ? target : null;
}

internal static class Kit
{
    public const string TargetIqn = "iqn.2026-11.io.strata:vol1";
    public const string InitiatorIqn = "iqn.1994-05.com.redhat:client1";
    public const ushort Tpgt = 1;

    public static readonly IPEndPoint Peer = new(IPAddress.Parse("10.0.0.5"), 50000);

    public static LoginStage Sec => LoginStage.SecurityNegotiation;

    public static LoginStage Op => LoginStage.LoginOperationalNegotiation;

    public static LoginStage Ffp => LoginStage.FullFeaturePhase;

    public static byte[] Text(params string[] pairs)
    {
        var bytes = new List<byte>();
        foreach (string pair in pairs)
        {
            bytes.AddRange(Encoding.UTF8.GetBytes(pair));
            bytes.Add(0);
        }

        return [.. bytes];
    }

    public static List<TextKeyValue> Pairs(ReadOnlyMemory<byte> text)
    {
        var pairs = new List<TextKeyValue>();
        Assert.Equal(TextFormatError.None, KeyValueParser.Parse(text.Span, pairs));
        return pairs;
    }

    public static Dictionary<string, string> Keys(LoginResponse response) =>
        Pairs(response.Text).ToDictionary(p => p.Key, p => p.Value);

    public static LoginRequest Request(LoginStage csg, LoginStage nsg, bool transit, params string[] pairs) =>
        new(transit, false, csg, nsg, 0, 0, 0x23d000000001UL, 0, 1, Text(pairs));

    public static TargetLoginPolicy Target(
        ChapCredentials? chap = null,
        ChapCredentials? mutual = null,
        string name = TargetIqn,
        string? alias = null) => new()
        {
            Name = name,
            Alias = alias,
            Chap = chap,
            MutualChap = mutual,
            Portals = [("10.0.0.1:3260", Tpgt)],
        };

    public static FakeCatalog Catalog(params TargetLoginPolicy[] targets)
    {
        var catalog = new FakeCatalog();
        catalog.List.AddRange(targets);
        return catalog;
    }

    public static LoginNegotiator Negotiator(ITargetCatalog? catalog = null, TargetNegotiationLimits? limits = null, IPEndPoint? peer = null) =>
        new(catalog ?? Catalog(Target()), peer ?? Peer, limits ?? new TargetNegotiationLimits(), Tpgt);

    /// <summary>The keys a normal-session initiator names itself with.</summary>
    public static string[] Names(string target = TargetIqn) =>
        [$"InitiatorName={InitiatorIqn}", $"TargetName={target}", "SessionType=Normal"];

    /// <summary>What open-iscsi offers in the operational stage of a normal session (usr/login.c).</summary>
    public static readonly string[] OpenIscsiOperational =
    [
        "HeaderDigest=None", "DataDigest=None", "DefaultTime2Wait=2", "DefaultTime2Retain=0",
        "IFMarker=No", "OFMarker=No", "ErrorRecoveryLevel=0", "InitialR2T=No", "ImmediateData=Yes",
        "MaxBurstLength=16776192", "FirstBurstLength=262144", "MaxOutstandingR2T=1", "MaxConnections=1",
        "DataPDUInOrder=Yes", "DataSequenceInOrder=Yes", "MaxRecvDataSegmentLength=262144",
    ];

    public static string[] Concat(params string[][] parts) => [.. parts.SelectMany(p => p)];

    /// <summary>RFC 1994 4.1, computed here independently of the code under test.</summary>
    public static byte[] ChapResponse(int algorithm, byte id, string secret, byte[] challenge)
    {
        byte[] input = [id, .. Encoding.UTF8.GetBytes(secret), .. challenge];
        return algorithm switch
        {
            5 => MD5.HashData(input),
            6 => SHA1.HashData(input),
            7 => SHA256.HashData(input),
            _ => throw new ArgumentOutOfRangeException(nameof(algorithm)),
        };
    }

    public static byte[] Hex(string value)
    {
        Assert.StartsWith("0x", value, StringComparison.Ordinal);
        return Convert.FromHexString(value[2..]);
    }

    public static string ToHex(byte[] value) => "0x" + Convert.ToHexString(value);

    /// <summary>Logs in without authentication, straight into the operational stage.</summary>
    public static (LoginNegotiator Negotiator, LoginResponse Response) OperationalLogin(
        bool transit,
        string[] keys,
        TargetNegotiationLimits? limits = null,
        ITargetCatalog? catalog = null)
    {
        LoginNegotiator negotiator = Negotiator(catalog, limits);
        LoginResponse response = negotiator.Process(Request(Op, Ffp, transit, Concat(Names(), keys)));
        return (negotiator, response);
    }

    /// <summary>The answer the target gave to one key offered alone (T=0, so no offers of ours interfere).</summary>
    public static string? AnswerTo(string pair, TargetNegotiationLimits? limits = null) =>
        AnswerTo(pair, out _, limits);

    public static string? AnswerTo(string pair, out LoginNegotiator negotiator, TargetNegotiationLimits? limits = null)
    {
        (negotiator, LoginResponse response) = OperationalLogin(false, [pair], limits);
        Assert.Equal(LoginStatus.Success, response.Status);
        string key = pair[..pair.IndexOf('=', StringComparison.Ordinal)];
        return Keys(response).GetValueOrDefault(key);
    }

    public static void AssertFailed(LoginNegotiator negotiator, LoginResponse response, LoginStatus status)
    {
        Assert.Equal(status, response.Status);
        Assert.True(negotiator.Failed);
        Assert.False(negotiator.Completed);
        Assert.False(response.Transit);
        Assert.False(response.Continue);
        Assert.True(response.Text.IsEmpty);
    }
}
