namespace Strata.Node.Discovery;

/// <summary>The include/exclude patterns of <see cref="DiscoveryOptions"/>: <c>*</c> and <c>?</c> wildcards, ordinal.</summary>
internal static class DevicePattern
{
    /// <summary>A pattern starting with <c>/</c> is matched against the path, any other against the name.</summary>
    public static bool Matches(string pattern, string name, string path) =>
        Glob(pattern, pattern.StartsWith('/') ? path : name);

    public static bool MatchesAny(IReadOnlyList<string> patterns, string name, string path)
    {
        foreach (var pattern in patterns)
        {
            if (Matches(pattern, name, path))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Whole-string wildcard match; backtracks only to the last star, so it is linear in practice.</summary>
    public static bool Glob(ReadOnlySpan<char> pattern, ReadOnlySpan<char> text)
    {
        int p = 0, t = 0, star = -1, starText = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || pattern[p] == text[t]))
            {
                p++;
                t++;
            }
            else if (p < pattern.Length && pattern[p] == '*')
            {
                star = p++;
                starText = t;
            }
            else if (star >= 0)
            {
                p = star + 1;
                t = ++starText;
            }
            else
            {
                return false;
            }
        }

        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }

        return p == pattern.Length;
    }
}
