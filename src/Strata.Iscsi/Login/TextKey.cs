namespace Strata.Iscsi.Login;

/// <summary>Where a key may be used (RFC 7143 13, "Use").</summary>
public enum KeyUse
{
    /// <summary>IO: login only, on every connection.</summary>
    InitializeOnly,

    /// <summary>LO: login of the leading connection only; session-wide.</summary>
    LeadingOnly,

    /// <summary>ALL: login and full feature phase.</summary>
    All,

    /// <summary>FFPO: full feature phase only (SendTargets).</summary>
    FullFeatureOnly,
}

/// <summary>How a key is negotiated (RFC 7143 6.2, 6.2.1, 6.2.2).</summary>
public enum KeyKind
{
    /// <summary>Each side declares its own value; no answer (RFC 7143 6.2).</summary>
    Declarative,

    /// <summary>The acceptor picks the first value of the offered list it supports (RFC 7143 6.2.1).</summary>
    List,

    /// <summary>Yes/No combined by AND or OR (RFC 7143 6.2.2).</summary>
    Boolean,

    /// <summary>A number in a range combined by minimum or maximum (RFC 7143 6.2.2).</summary>
    Numerical,

    /// <summary>Security-stage keys handled by the authentication exchange (RFC 7143 12).</summary>
    Security,

    /// <summary>SendTargets (RFC 7143 Appendix C).</summary>
    SendTargets,

    /// <summary>Obsolete marker keys (RFC 7143 13.25).</summary>
    Obsolete,
}

/// <summary>The result function of a negotiated key (RFC 7143 6.2.2 and each key of section 13).</summary>
public enum ResultFunction
{
    None,
    Minimum,
    Maximum,
    And,
    Or,
}

/// <summary>Who may send a key (RFC 7143 13, "Senders").</summary>
public enum KeySender
{
    Initiator,
    Target,
    Both,
}

/// <summary>One text key of RFC 7143 section 13 (and RFC 7144), with its negotiation rules.</summary>
public sealed record TextKey(
    string Name,
    KeyKind Kind,
    KeyUse Use,
    KeySender Sender,
    ResultFunction Result = ResultFunction.None,
    long Min = 0,
    long Max = 0,
    bool IrrelevantInDiscovery = false)
{
    /// <summary>Whether a value of this key may be longer than the usual 255 bytes (RFC 7143 6.1, 12.1.3).</summary>
    public int MaxValueLength { get; init; } = 255;
}
