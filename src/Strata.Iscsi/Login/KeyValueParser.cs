using System.Text;

namespace Strata.Iscsi.Login;

/// <summary>
/// Splits a logical text data segment (the data of one or more PDUs joined by the C bit) into key=value
/// pairs (RFC 7143 6.1): every pair ends with one null, the key is whatever precedes the first "=".
/// </summary>
public static class KeyValueParser
{
    /// <summary>RFC 7143 6.1: a standard-label (and so a key-name) must not exceed 63 characters.</summary>
    public const int MaxKeyLength = 63;

    /// <summary>
    /// RFC 7143 6.1 limits simple values to 255 bytes unless a key says otherwise; the keys that do
    /// (CHAP_C, CHAP_R) stay far below this ceiling, which only protects the parser.
    /// </summary>
    public const int MaxValueLength = 8192;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Appends the pairs of <paramref name="text"/> to <paramref name="pairs"/>, in order.</summary>
    public static TextFormatError Parse(ReadOnlySpan<byte> text, List<TextKeyValue> pairs)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        while (!text.IsEmpty)
        {
            int end = text.IndexOf((byte)0);
            if (end < 0)
            {
                return TextFormatError.MissingTerminator;
            }

            ReadOnlySpan<byte> pair = text[..end];
            text = text[(end + 1)..];
            if (pair.IsEmpty)
            {
                // Extra nulls (e.g. padding an initiator counted into the length) carry no pair.
                continue;
            }

            int equals = pair.IndexOf((byte)'=');
            if (equals < 0)
            {
                return TextFormatError.MissingEquals;
            }

            if (equals == 0)
            {
                return TextFormatError.EmptyKey;
            }

            if (equals > MaxKeyLength)
            {
                return TextFormatError.KeyTooLong;
            }

            ReadOnlySpan<byte> value = pair[(equals + 1)..];
            if (value.Length > MaxValueLength)
            {
                return TextFormatError.ValueTooLong;
            }

            try
            {
                pairs.Add(new TextKeyValue(StrictUtf8.GetString(pair[..equals]), StrictUtf8.GetString(value)));
            }
            catch (DecoderFallbackException)
            {
                return TextFormatError.InvalidUtf8;
            }
        }

        return TextFormatError.None;
    }
}
