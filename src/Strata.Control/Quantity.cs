using System.Globalization;
using System.Numerics;
using System.Text.RegularExpressions;
using Strata.Control.Manifests;

namespace Strata.Control;

/// <summary>
/// Kubernetes resource quantities as byte counts (https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/):
/// binary suffixes Ki Mi Gi Ti Pi Ei, decimal suffixes k M G T P E (and m u n), decimal exponents (1e9), and fractions
/// that come to whole bytes (1.5Gi). A quantity that is not a whole number of bytes, or does not fit a long, is refused.
/// </summary>
public static partial class Quantity
{
    public const string Examples = "examples: 1Gi, 500Mi, 10G";

    private const int MaxLength = 64;

    private static readonly string[] BinarySuffixes = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];

    /// <summary>The bytes <paramref name="text"/> stands for; false when it is not a quantity or not a whole number of bytes that fits a long.</summary>
    public static bool TryParse(string text, out long bytes) => Evaluate(text, out bytes) == Outcome.Ok;

    /// <summary>The bytes <paramref name="text"/> stands for, or a <see cref="ManifestException"/> naming <paramref name="fieldPath"/>.</summary>
    public static long Parse(string text, string fieldPath)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Evaluate(text, out long bytes) switch
        {
            Outcome.Ok => bytes,
            Outcome.Fraction => throw new ManifestException(fieldPath, $"'{text}' is not a whole number of bytes"),
            Outcome.TooLarge => throw new ManifestException(fieldPath, $"'{text}' is too large (at most 8Ei)"),
            _ => throw new ManifestException(fieldPath, $"'{text}' is not a quantity ({Examples})"),
        };
    }

    /// <summary>The shortest exact binary form: 1073741824 is "1Gi", 1610612736 is "1536Mi", 1000 is "1000".</summary>
    public static string Format(long bytes)
    {
        if (bytes == 0)
        {
            return "0";
        }
        string sign = bytes < 0 ? "-" : "";
        ulong n = Magnitude(bytes);
        for (int i = BinarySuffixes.Length; i >= 1; i--)
        {
            ulong unit = 1UL << (10 * i);
            if (n % unit == 0)
            {
                return string.Create(CultureInfo.InvariantCulture, $"{sign}{n / unit}{BinarySuffixes[i - 1]}");
            }
        }
        return string.Create(CultureInfo.InvariantCulture, $"{sign}{n}");
    }

    /// <summary>
    /// The size for a table column, the way cStor's pool listing shows it (ZFS's nicenum): K, M, G, T, P, E are powers of
    /// 1024; an exact multiple shows as a whole number ("1G"), anything else with as many decimals as fit in five
    /// characters ("1.58M", "9.94G", "282K", "12.3M"); below 1K the plain count ("512"), and "0" for zero.
    /// </summary>
    public static string FormatHuman(long bytes)
    {
        string sign = bytes < 0 ? "-" : "";
        ulong n = Magnitude(bytes);
        int index = 0;
        for (ulong t = n; t >= 1024 && index < 6; t /= 1024)
        {
            index++;
        }
        if (index == 0)
        {
            return string.Create(CultureInfo.InvariantCulture, $"{sign}{n}");
        }
        char unit = "KMGTPE"[index - 1];
        int shift = 10 * index;
        if ((n & ((1UL << shift) - 1)) == 0)
        {
            return string.Create(CultureInfo.InvariantCulture, $"{sign}{n >> shift}{unit}");
        }
        double value = n / (double)(1UL << shift);
        string text = "";
        for (int decimals = 2; decimals >= 0; decimals--)
        {
            text = value.ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture) + unit;
            if (text.Length <= 5)
            {
                break;
            }
        }
        return sign + text;
    }

    private static ulong Magnitude(long value) => value < 0 ? (ulong)(-(value + 1)) + 1 : (ulong)value;

    private enum Outcome
    {
        Ok,
        NotAQuantity,
        Fraction,
        TooLarge,
    }

    [GeneratedRegex(@"^(?<sign>[+-]?)(?<int>[0-9]*)(?:\.(?<frac>[0-9]*))?(?:(?<exp>[eE][+-]?[0-9]+)|(?<suffix>Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m|u|n))?$", RegexOptions.CultureInvariant)]
    private static partial Regex Syntax();

    private static Outcome Evaluate(string? text, out long bytes)
    {
        bytes = 0;
        if (string.IsNullOrEmpty(text) || text.Length > MaxLength)
        {
            return Outcome.NotAQuantity;
        }
        var m = Syntax().Match(text);
        string intPart = m.Groups["int"].Value, frac = m.Groups["frac"].Value;
        if (!m.Success || intPart.Length + frac.Length == 0)
        {
            return Outcome.NotAQuantity;
        }

        // value = digits * 10^scale * 2^shift
        var digits = BigInteger.Parse(intPart + frac, NumberStyles.None, CultureInfo.InvariantCulture);
        int scale = -frac.Length, shift = 0;
        if (m.Groups["exp"].Success)
        {
            var expText = m.Groups["exp"].ValueSpan[1..];
            if (!int.TryParse(expText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int exp) || Math.Abs(exp) > 100)
            {
                // 10^±100 is far outside a long with at most 64 characters of digits.
                return digits.IsZero ? Outcome.Ok : expText[0] == '-' ? Outcome.Fraction : Outcome.TooLarge;
            }
            scale += exp;
        }
        else if (m.Groups["suffix"].Success)
        {
            string suffix = m.Groups["suffix"].Value;
            int binary = Array.IndexOf(BinarySuffixes, suffix);
            if (binary >= 0)
            {
                shift = 10 * (binary + 1);
            }
            else
            {
                scale += suffix switch
                {
                    "k" => 3,
                    "M" => 6,
                    "G" => 9,
                    "T" => 12,
                    "P" => 15,
                    "E" => 18,
                    "m" => -3,
                    "u" => -6,
                    _ => -9, // n
                };
            }
        }

        BigInteger value = digits << shift;
        if (scale >= 0)
        {
            value *= BigInteger.Pow(10, scale);
        }
        else
        {
            var divisor = BigInteger.Pow(10, -scale);
            value = BigInteger.DivRem(value, divisor, out var remainder);
            if (!remainder.IsZero)
            {
                return Outcome.Fraction;
            }
        }
        if (m.Groups["sign"].Value == "-")
        {
            value = -value;
        }
        if (value > long.MaxValue || value < long.MinValue)
        {
            return Outcome.TooLarge;
        }
        bytes = (long)value;
        return Outcome.Ok;
    }
}
