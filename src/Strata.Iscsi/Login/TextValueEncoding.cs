using System.Globalization;

namespace Strata.Iscsi.Login;

/// <summary>The reserved values of RFC 7143 6.2 that answer a key instead of negotiating it.</summary>
public static class ReservedValue
{
    /// <summary>The key is not understood (unknown, X- or X# vendor keys).</summary>
    public const string NotUnderstood = "NotUnderstood";

    /// <summary>The offered value is not admissible (out of range, malformed, nothing in common).</summary>
    public const string Reject = "Reject";

    /// <summary>The key does not apply here (e.g. a normal-session key in a discovery session).</summary>
    public const string Irrelevant = "Irrelevant";

    public const string None = "None";

    public static bool IsReserved(string value) =>
        value is NotUnderstood or Reject or Irrelevant;
}

/// <summary>boolean-value: "Yes" or "No", case-sensitive (RFC 7143 6.1).</summary>
public static class BooleanValue
{
    public const string Yes = "Yes";
    public const string No = "No";

    public static bool TryParse(string value, out bool result)
    {
        result = value == Yes;
        return value is Yes or No;
    }

    public static string Format(bool value) => value ? Yes : No;
}

/// <summary>
/// numerical-value: an unsigned integer below 2^64 written as a decimal-constant, a hex-constant
/// ("0x"/"0X") or a base64-constant ("0b"/"0B") (RFC 7143 6.1).
/// </summary>
public static class NumericalValue
{
    public static bool TryParse(string value, out ulong result)
    {
        result = 0;
        if (string.IsNullOrEmpty(value))
        {
            return false;
        }

        if (value.Length > 2 && value[0] == '0' && value[1] is 'x' or 'X' or 'b' or 'B')
        {
            if (!BinaryValue.TryDecode(value, out byte[] bytes))
            {
                return false;
            }

            // Leading zero bytes do not make a number bigger than 64 bits.
            int first = 0;
            while (first < bytes.Length - 1 && bytes[first] == 0)
            {
                first++;
            }

            if (bytes.Length - first > 8)
            {
                return false;
            }

            for (int i = first; i < bytes.Length; i++)
            {
                result = (result << 8) | bytes[i];
            }

            return true;
        }

        foreach (char c in value)
        {
            if (c is < '0' or > '9')
            {
                return false;
            }
        }

        return ulong.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out result);
    }

    /// <summary>Parses and checks the inclusive range a key allows.</summary>
    public static bool TryParse(string value, long min, long max, out long result)
    {
        result = 0;
        if (!TryParse(value, out ulong raw) || raw < (ulong)min || raw > (ulong)max)
        {
            return false;
        }

        result = (long)raw;
        return true;
    }
}

/// <summary>
/// binary-value: a hex-constant ("0x" then hex digits, a leading zero nibble assumed when their count is
/// odd) or a base64-constant ("0b" then RFC 4648 base64) (RFC 7143 6.1).
/// </summary>
public static class BinaryValue
{
    public static bool TryDecode(string value, out byte[] bytes)
    {
        bytes = [];
        if (value is null || value.Length < 3 || value[0] != '0')
        {
            return false;
        }

        ReadOnlySpan<char> digits = value.AsSpan(2);
        switch (value[1])
        {
            case 'x' or 'X':
                return TryDecodeHex(digits, out bytes);
            case 'b' or 'B':
                return TryDecodeBase64(digits, out bytes);
            default:
                return false;
        }
    }

    public static string FormatHex(ReadOnlySpan<byte> value) => "0x" + Convert.ToHexStringLower(value);

    private static bool TryDecodeHex(ReadOnlySpan<char> digits, out byte[] bytes)
    {
        bytes = new byte[(digits.Length + 1) / 2];
        int nibble = digits.Length % 2; // an odd count starts in the low nibble of the first byte
        for (int i = 0; i < digits.Length; i++, nibble++)
        {
            int v = HexDigit(digits[i]);
            if (v < 0)
            {
                bytes = [];
                return false;
            }

            bytes[nibble / 2] |= (byte)(nibble % 2 == 0 ? v << 4 : v);
        }

        return true;
    }

    private static int HexDigit(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };

    private static bool TryDecodeBase64(ReadOnlySpan<char> digits, out byte[] bytes)
    {
        // Base64 without its padding is still unambiguous; pad it so Convert accepts it.
        string padded = digits.ToString();
        if (padded.Length % 4 != 0)
        {
            padded = padded.PadRight(padded.Length + 4 - (padded.Length % 4), '=');
        }

        bytes = new byte[padded.Length / 4 * 3];
        if (!Convert.TryFromBase64String(padded, bytes, out int written) || written == 0)
        {
            bytes = [];
            return false;
        }

        bytes = bytes[..written];
        return true;
    }
}

/// <summary>list-of-values: comma-separated values in the proposer's order of preference (RFC 7143 6.1, 6.2.1).</summary>
public static class ListValue
{
    public static string[] Split(string value) => value.Split(',');
}
