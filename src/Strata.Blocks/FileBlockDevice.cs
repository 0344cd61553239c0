using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Strata.Blocks;

/// <summary>
/// An <see cref="IBlockDevice"/> over a regular (sparse) file or a Linux block device: positional I/O with
/// <see cref="RandomAccess"/>, flush is fdatasync(2), unmap punches a hole with fallocate(2).
/// </summary>
public sealed class FileBlockDevice : IBlockDevice
{
    private readonly SafeFileHandle _handle;
    private readonly bool _direct;
    private int _punchHoleUnsupported;

    private FileBlockDevice(SafeFileHandle handle, string path, int blockSize, long blockCount, bool direct)
    {
        _handle = handle;
        Path = path;
        BlockSize = blockSize;
        BlockCount = blockCount;
        _direct = direct;
    }

    public string Path { get; }

    public int BlockSize { get; }

    public long BlockCount { get; }

    /// <summary>
    /// Opens (or, for a regular file with <paramref name="size"/> given, creates or grows as a sparse file)
    /// the device at <paramref name="path"/>.
    /// </summary>
    /// <param name="size">Bytes; required when the file does not exist. A block device's size is its own.</param>
    /// <param name="direct">Open with O_DIRECT, bypassing the page cache; I/O buffers are then bounced
    /// through aligned memory when they are not aligned themselves.</param>
    public static FileBlockDevice Open(string path, long? size = null, int blockSize = 512, bool direct = false)
    {
        if (blockSize is not (512 or 4096))
        {
            throw new ArgumentException($"block size must be 512 or 4096, not {blockSize}", nameof(blockSize));
        }

        if (!File.Exists(path) && size is null)
        {
            throw new FileNotFoundException($"{path} does not exist; give a size to create it", path);
        }

        if (size is { } s && s % blockSize != 0)
        {
            throw new ArgumentException($"size {s} is not a multiple of the block size {blockSize}", nameof(size));
        }

        var handle = direct
            ? OpenDirect(path)
            : File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite);
        try
        {
            // BLKGETSIZE64 answers only for block devices; a regular file is sized (sparsely) instead.
            long bytes = LinuxFile.BlockDeviceSize(handle);
            if (bytes < 0)
            {
                bytes = RandomAccess.GetLength(handle);
                if (size is { } wanted && wanted > bytes)
                {
                    RandomAccess.SetLength(handle, wanted); // sparse: no blocks are allocated
                    bytes = wanted;
                }
            }

            if (bytes < blockSize)
            {
                throw new ArgumentException($"{path} holds {bytes} bytes, less than one {blockSize}-byte block");
            }

            return new FileBlockDevice(handle, path, blockSize, bytes / blockSize, direct);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    public ValueTask ReadAsync(long lba, Memory<byte> buffer, CancellationToken ct = default)
    {
        long count = CheckRange(lba, buffer.Length);
        if (count == 0 || ct.IsCancellationRequested)
        {
            // A started pread cannot be cancelled; one not yet started can.
            return ct.IsCancellationRequested ? ValueTask.FromCanceled(ct) : ValueTask.CompletedTask;
        }

        if (_direct)
        {
            // Checked on pinned memory, and pinned until the pread returns: a managed array the GC moved
            // after an unpinned check would reach the kernel misaligned (EINVAL).
            var pin = buffer.Pin();
            if (!IsAligned(pin, buffer.Length))
            {
                pin.Dispose();
                return ReadBouncedAsync(lba * BlockSize, buffer);
            }

            return PooledFileOperation.ReadAsync(this, _handle, buffer, lba * BlockSize, pin);
        }

        return PooledFileOperation.ReadAsync(this, _handle, buffer, lba * BlockSize);
    }

    public ValueTask WriteAsync(long lba, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct = default)
    {
        long count = CheckRange(lba, data.Length);
        bool fua = (flags & WriteFlags.Fua) != 0;
        if (ct.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(ct);
        }

        if (count == 0)
        {
            return fua ? FlushAsync(ct) : ValueTask.CompletedTask;
        }

        if (_direct)
        {
            var pin = data.Pin();
            if (!IsAligned(pin, data.Length))
            {
                pin.Dispose();
                return WriteBouncedAsync(lba * BlockSize, data, fua);
            }

            return PooledFileOperation.WriteAsync(this, _handle, data, lba * BlockSize, fua, pin);
        }

        // FUA: pwrite then fdatasync in the same thread-pool item (SBC-3 4.11: durable when it completes).
        return PooledFileOperation.WriteAsync(this, _handle, data, lba * BlockSize, fua);
    }

    /// <summary>fdatasync(2), on the thread pool so the network loop never waits on the disk.</summary>
    public ValueTask FlushAsync(CancellationToken ct = default) =>
        ct.IsCancellationRequested ? ValueTask.FromCanceled(ct) : PooledFileOperation.DataSyncAsync(this, _handle);

    public async ValueTask UnmapAsync(long lba, long blockCount, CancellationToken ct = default)
    {
        if (lba < 0 || blockCount < 0 || lba > BlockCount || blockCount > BlockCount - lba)
        {
            throw BlockDeviceException.OutOfRange(lba, blockCount, BlockCount);
        }

        if (blockCount == 0)
        {
            return;
        }

        long offset = lba * BlockSize;
        long length = blockCount * BlockSize;
        if (Volatile.Read(ref _punchHoleUnsupported) == 0)
        {
            long errno = await PooledFileOperation.PunchHoleAsync(this, _handle, offset, length).ConfigureAwait(false);
            if (errno == 0)
            {
                return;
            }

            if (errno != LinuxFile.EOPNOTSUPP)
            {
                throw new BlockDeviceException(BlockDeviceErrorKind.Medium, $"punching a hole in {Path} at LBA {lba} failed: errno {errno}");
            }

            Volatile.Write(ref _punchHoleUnsupported, 1);
        }

        // The file system cannot punch holes: unmapped blocks must still read as zeros, so write them.
        using var zeros = new AlignedBuffer((int)Math.Min(length, 1 << 20));
        zeros.Memory.Span.Clear();
        for (long done = 0; done < length; done += zeros.Memory.Length)
        {
            int chunk = (int)Math.Min(zeros.Memory.Length, length - done);
            await PooledFileOperation.WriteAsync(this, _handle, zeros.Memory[..chunk], offset + done, fua: false).ConfigureAwait(false);
        }
    }

    public ValueTask DisposeAsync()
    {
        _handle.Dispose();
        return ValueTask.CompletedTask;
    }

    private long CheckRange(long lba, int bytes)
    {
        if (bytes % BlockSize != 0)
        {
            throw new ArgumentException($"buffer of {bytes} bytes is not a whole number of {BlockSize}-byte blocks");
        }

        long count = bytes / BlockSize;
        if (lba < 0 || lba > BlockCount || count > BlockCount - lba)
        {
            throw BlockDeviceException.OutOfRange(lba, count, BlockCount);
        }

        return count;
    }

    private static unsafe bool IsAligned(System.Buffers.MemoryHandle pin, int length) =>
        (nuint)pin.Pointer % 512 == 0 && length % 512 == 0;

    /// <summary>O_DIRECT needs aligned memory: an unaligned buffer goes through an aligned copy.</summary>
    private async ValueTask ReadBouncedAsync(long offset, Memory<byte> buffer)
    {
        using var bounce = new AlignedBuffer(buffer.Length);
        await PooledFileOperation.ReadAsync(this, _handle, bounce.Memory, offset).ConfigureAwait(false);
        bounce.Memory.CopyTo(buffer);
    }

    private async ValueTask WriteBouncedAsync(long offset, ReadOnlyMemory<byte> data, bool fua)
    {
        using var bounce = new AlignedBuffer(data.Length);
        data.CopyTo(bounce.Memory);
        await PooledFileOperation.WriteAsync(this, _handle, bounce.Memory, offset, fua).ConfigureAwait(false);
    }

    private static SafeFileHandle OpenDirect(string path)
    {
        int flags = LinuxFile.O_RDWR | LinuxFile.O_DIRECT | LinuxFile.O_CLOEXEC | LinuxFile.O_CREAT;
        int fd = LinuxFile.Open(path, flags, 0x1B6 /* 0666 */);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw new IOException($"cannot open {path} with O_DIRECT: errno {errno}");
        }

        return new SafeFileHandle(fd, ownsHandle: true);
    }
}
