using System.Text;

namespace Strata.Node.Discovery;

/// <summary>One line of <c>/proc/self/mountinfo</c>: what is mounted where.</summary>
internal sealed record MountEntry(string DeviceNumber, string MountPoint, string FileSystemType, string Source);

/// <summary>The parts of procfs that say whether a block device is in use: mounts and swap.</summary>
internal static class MountTable
{
    /// <summary>
    /// Parses mountinfo (proc(5)): <c>36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw</c>; the
    /// optional fields end at the lone <c>-</c>. Lines that do not parse are ignored.
    /// </summary>
    public static IReadOnlyList<MountEntry> ParseMountInfo(IEnumerable<string> lines)
    {
        var entries = new List<MountEntry>();
        foreach (var line in lines)
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var separator = fields.Length > 6 ? Array.IndexOf(fields, "-", 6) : -1;
            if (separator < 0 || separator + 2 >= fields.Length)
            {
                continue;
            }

            entries.Add(new MountEntry(fields[2], Unescape(fields[4]), fields[separator + 1], Unescape(fields[separator + 2])));
        }

        return entries;
    }

    /// <summary>Parses <c>/proc/swaps</c>: a header line, then one line per swap area whose first field is its path.</summary>
    public static IReadOnlyList<string> ParseSwaps(IEnumerable<string> lines)
    {
        var paths = new List<string>();
        foreach (var line in lines.Skip(1))
        {
            var fields = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length > 0)
            {
                paths.Add(Unescape(fields[0]));
            }
        }

        return paths;
    }

    /// <summary>The kernel writes space, tab, newline and backslash in paths as octal escapes: <c>\040</c>.</summary>
    internal static string Unescape(string field)
    {
        if (!field.Contains('\\', StringComparison.Ordinal))
        {
            return field;
        }

        var result = new StringBuilder(field.Length);
        for (var i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && i + 3 < field.Length && IsOctal(field[i + 1]) && IsOctal(field[i + 2]) && IsOctal(field[i + 3]))
            {
                result.Append((char)(((field[i + 1] - '0') * 64) + ((field[i + 2] - '0') * 8) + (field[i + 3] - '0')));
                i += 3;
            }
            else
            {
                result.Append(field[i]);
            }
        }

        return result.ToString();
    }

    private static bool IsOctal(char c) => c is >= '0' and <= '7';
}
