using System.Text;

namespace Strata.State;

/// <summary>
/// Keys are UTF-8 strings compared byte by byte (ordinal over UTF-8, as etcd does). A prefix is a plain string
/// prefix: "/a/b" matches "/a/b", "/a/b/c" and "/a/bc"; end a prefix with the separator ("/a/b/") to mean a directory.
/// </summary>
internal static class StoreKeys
{
    public static byte[] Encode(string key) => Encoding.UTF8.GetBytes(key);

    public static string Decode(ReadOnlySpan<byte> key) => Encoding.UTF8.GetString(key);

    public static void CheckKey(string key, string paramName)
    {
        ArgumentNullException.ThrowIfNull(key, paramName);
        if (key.Length == 0)
        {
            throw new ArgumentException("a key must not be empty", paramName);
        }
    }

    /// <summary>The first key after every key that starts with <paramref name="prefix"/>, or null when no such key exists (the prefix is empty or all 0xFF).</summary>
    public static byte[]? PrefixEnd(ReadOnlySpan<byte> prefix)
    {
        for (int i = prefix.Length - 1; i >= 0; i--)
        {
            if (prefix[i] != 0xFF)
            {
                byte[] end = prefix[..(i + 1)].ToArray();
                end[i]++;
                return end;
            }
        }
        return null;
    }

    public static void CheckPutRevision(long expectedRevision, string paramName)
    {
        if (expectedRevision < Revision.Any)
        {
            throw new ArgumentOutOfRangeException(paramName, expectedRevision, "an expected revision is a record's revision (> 0), Revision.Absent or Revision.Any");
        }
    }

    public static void CheckDeleteRevision(long expectedRevision, string paramName)
    {
        if (expectedRevision < Revision.Any || expectedRevision == Revision.Absent)
        {
            throw new ArgumentOutOfRangeException(paramName, expectedRevision, "a delete's expected revision is a record's revision (> 0) or Revision.Any");
        }
    }

    public static void CheckTtl(TimeSpan ttl, string paramName)
    {
        if (ttl <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(paramName, ttl, "a lease's TTL must be positive");
        }
    }

    /// <summary>Whether "HOST:PORT" (HOST possibly "[v6]") ends in a port number 1–65535.</summary>
    public static bool HasExplicitPort(string hostPort)
    {
        int colon = hostPort.LastIndexOf(':');
        return colon > 0 && colon > hostPort.LastIndexOf(']')
            && int.TryParse(hostPort.AsSpan(colon + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int port)
            && port is > 0 and <= 65535;
    }
}
