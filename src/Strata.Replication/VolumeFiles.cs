using System.Runtime.InteropServices;
using System.Text;

namespace Strata.Replication;

/// <summary>
/// What the per-volume files of a replica server (epochs, write-intent bitmaps) share: a file name made from the
/// volume id, and fsync of the directory that holds them, so a file made or renamed there survives a crash.
/// </summary>
internal static partial class VolumeFiles
{
    private static readonly System.Buffers.SearchValues<char> PlainCharacters =
        System.Buffers.SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");

    /// <summary>
    /// The volume id itself when it is a plain file name (letters, digits, '.', '_', '-', not starting with '.'), else
    /// '~' and its UTF-8 in hex, so no id can name a file outside the directory.
    /// </summary>
    public static string NameOf(string volumeId)
    {
        ArgumentException.ThrowIfNullOrEmpty(volumeId);
        bool plain = volumeId.Length <= 200 && volumeId[0] != '.' &&
                     volumeId.AsSpan().IndexOfAnyExcept(PlainCharacters) < 0;
        return plain ? volumeId : "~" + Convert.ToHexStringLower(Encoding.UTF8.GetBytes(volumeId));
    }

    /// <summary>fsync(2) of a directory, so a rename in it is durable (.NET cannot open a directory as a file).</summary>
    public static void SyncDirectory(string directory)
    {
        int fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
        {
            throw new IOException($"cannot open {directory} to fsync it: errno {Marshal.GetLastPInvokeError()}");
        }

        try
        {
            if (fsync(fd) != 0)
            {
                throw new IOException($"fsync of {directory} failed: errno {Marshal.GetLastPInvokeError()}");
            }
        }
        finally
        {
            _ = close(fd);
        }
    }

    private const int O_RDONLY = 0;
    private const int O_DIRECTORY = 0x10000;
    private const int O_CLOEXEC = 0x80000;

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fsync(int fd);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);
}
