using System.Security.Cryptography;

namespace Strata.EndToEnd.Tests.Harness;

internal static class Text
{
    public static string Tail(string text, int maxChars) =>
        text.Length <= maxChars ? text : $"[... {text.Length - maxChars} earlier characters cut ...]\n" + text[^maxChars..];

    public static string CommandLine(string file, IEnumerable<string> args) =>
        string.Join(' ', new[] { file }.Concat(args).Select(Quote));

    private static string Quote(string s) =>
        s.Length > 0 && s.All(c => char.IsLetterOrDigit(c) || "-_./:=%@,+".Contains(c, StringComparison.Ordinal)) ? s : "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    public static string Sha256(ReadOnlySpan<byte> data) => Convert.ToHexStringLower(SHA256.HashData(data));

    public static string Sha256File(string path)
    {
        using var f = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(f));
    }
}
