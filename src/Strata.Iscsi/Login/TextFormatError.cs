namespace Strata.Iscsi.Login;

/// <summary>
/// Why a logical text data segment is not well-formed (RFC 7143 6.1). Every one of these is a protocol
/// error: during login the negotiator fails the login with InitiatorError (0x0200); in the full feature
/// phase the transport rejects the Text Request.
/// </summary>
public enum TextFormatError
{
    None,

    /// <summary>The last key=value pair is not followed by its null delimiter.</summary>
    MissingTerminator,

    /// <summary>A pair has no "=" between key and value.</summary>
    MissingEquals,

    /// <summary>A pair starts with "=": the key-name is empty.</summary>
    EmptyKey,

    /// <summary>A key-name longer than 63 bytes (RFC 7143 6.1, standard-label).</summary>
    KeyTooLong,

    /// <summary>A value longer than the 8192 bytes any single key may carry.</summary>
    ValueTooLong,

    /// <summary>The key or value is not valid UTF-8.</summary>
    InvalidUtf8,

    /// <summary>The same key twice in one negotiation (RFC 7143 6.2).</summary>
    DuplicateKey,
}
