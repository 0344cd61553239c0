using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Strata.Blocks;

/// <summary>The few Linux file calls .NET does not expose: fdatasync, fallocate, BLKGETSIZE64, O_DIRECT.</summary>
internal static partial class LinuxFile
{
    public const int O_RDWR = 0x2;
    public const int O_CREAT = 0x40;
    public const int O_DIRECT = 0x4000;
    public const int O_CLOEXEC = 0x80000;
    public const int EOPNOTSUPP = 95;

    private const int FALLOC_FL_KEEP_SIZE = 0x01;
    private const int FALLOC_FL_PUNCH_HOLE = 0x02;
    private const ulong BLKGETSIZE64 = 0x80081272;

    public static int FDataSync(SafeFileHandle handle) => fdatasync((int)handle.DangerousGetHandle());

    /// <summary>Deallocates a byte range, keeping the file size; returns 0 or the errno.</summary>
    public static int PunchHole(SafeFileHandle handle, long offset, long length)
    {
        int rc = fallocate((int)handle.DangerousGetHandle(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length);
        return rc == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    /// <summary>The size in bytes of a block device, or -1 when the handle is not one.</summary>
    public static long BlockDeviceSize(SafeFileHandle handle)
    {
        ulong bytes = 0;
        int rc = ioctl((int)handle.DangerousGetHandle(), BLKGETSIZE64, ref bytes);
        return rc == 0 ? (long)bytes : -1;
    }

    public static int Open(string path, int flags, int mode) => open(path, flags, mode);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fdatasync(int fd);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fallocate(int fd, int mode, long offset, long len);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int ioctl(int fd, ulong request, ref ulong value);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags, int mode);
}
