using System.Runtime.InteropServices;

namespace Strata.Iscsi.Scsi;

/// <summary>
/// An <see cref="IAllocationMap"/> for a sparse file: lseek(2) SEEK_DATA / SEEK_HOLE tell where data and holes
/// are; a hole is what UNMAP punched (or was never written). Resolution is the file system's block size.
/// </summary>
public sealed partial class SparseFileAllocationMap : IAllocationMap, IDisposable
{
    private const int SeekData = 3;
    private const int SeekHole = 4;
    private const int ENXIO = 6;
    private readonly SafeHandle _file;
    private readonly int _blockSize;
    private readonly long _length;

    public SparseFileAllocationMap(string path, int blockSize)
    {
        _file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        _blockSize = blockSize;
        _length = RandomAccess.GetLength((Microsoft.Win32.SafeHandles.SafeFileHandle)_file);
    }

    public ValueTask<(bool Mapped, long Blocks)> GetExtentAsync(long lba, long maxBlocks, CancellationToken ct = default)
    {
        long offset = lba * _blockSize;
        long end = Math.Min(_length, offset + (maxBlocks * _blockSize));
        int fd = (int)_file.DangerousGetHandle();
        long data = lseek(fd, offset, SeekData);
        if (data < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno == ENXIO)
            {
                return new((false, Math.Max(1, (end - offset) / _blockSize)));
            }

            return new((true, maxBlocks)); // the file system cannot tell: say mapped
        }

        if (data > offset)
        {
            // A hole from offset to data; blocks partly holes are reported as mapped.
            long holeEnd = Math.Min(end, data);
            long blocks = (holeEnd - offset) / _blockSize;
            if (blocks > 0)
            {
                return new((false, blocks));
            }
        }

        long hole = lseek(fd, offset, SeekHole);
        if (hole < 0)
        {
            hole = end;
        }

        // Round the hole start up so a block that holds any data counts as mapped.
        long mappedEnd = Math.Min(end, (hole + _blockSize - 1) / _blockSize * _blockSize);
        return new((true, Math.Max(1, (mappedEnd - offset) / _blockSize)));
    }

    public void Dispose() => _file.Dispose();

    [LibraryImport("libc", SetLastError = true)]
    private static partial long lseek(int fd, long offset, int whence);
}
