namespace Strata.Iscsi.Login;

/// <summary>
/// Joins the data segments of PDUs sent with C=1 into one logical text data segment (RFC 7143 6.1,
/// 11.12.2): key=value pairs may span PDU boundaries.
/// </summary>
internal sealed class InboundTextAssembler
{
    private readonly int _limit;
    private byte[] _buffer = new byte[512];
    private int _length;

    /// <param name="limit">Most bytes accepted in one logical segment; more fails the login.</param>
    public InboundTextAssembler(int limit)
    {
        _limit = limit;
    }

    public bool IsEmpty => _length == 0;

    public void Append(ReadOnlySpan<byte> part)
    {
        if (_length + part.Length > _limit)
        {
            throw LoginFailedException.InitiatorError($"text negotiation data exceeds {_limit} bytes");
        }

        if (_length + part.Length > _buffer.Length)
        {
            Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + part.Length));
        }

        part.CopyTo(_buffer.AsSpan(_length));
        _length += part.Length;
    }

    /// <summary>The whole segment; the assembler is empty again afterwards.</summary>
    public byte[] Take()
    {
        byte[] text = _buffer.AsSpan(0, _length).ToArray();
        _length = 0;
        return text;
    }
}

/// <summary>
/// Sends a response text longer than one PDU may carry in pieces: every piece but the last goes with
/// C=1 and T=0, and the initiator asks for the next with an empty request (RFC 7143 6.1, 11.13.2).
/// </summary>
internal sealed class OutboundTextSplitter
{
    private byte[] _text = [];
    private int _sent;

    public bool HasPending => _sent < _text.Length;

    public void Start(byte[] text)
    {
        _text = text;
        _sent = 0;
    }

    /// <summary>The next piece, and whether more follow it.</summary>
    public ReadOnlyMemory<byte> Next(int maxLength, out bool more)
    {
        int length = Math.Min(maxLength, _text.Length - _sent);
        ReadOnlyMemory<byte> piece = _text.AsMemory(_sent, length);
        _sent += length;
        more = HasPending;
        return piece;
    }
}
