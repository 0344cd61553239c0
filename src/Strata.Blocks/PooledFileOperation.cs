using System.Buffers;
using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Threading.Tasks.Sources;
using Microsoft.Win32.SafeHandles;

namespace Strata.Blocks;

/// <summary>
/// One blocking file call of a <see cref="FileBlockDevice"/> (pread, pwrite, pwrite+fdatasync, fdatasync,
/// fallocate) run on the thread pool and awaited as a ValueTask, with the operation object pooled. RandomAccess's
/// own async path reuses one operation per handle and allocates for every concurrent one, and an async method
/// around it allocates its box whenever it completes on another thread than it started; this allocates nothing
/// per I/O however many are in flight. I/O errors become <see cref="BlockDeviceException"/>s here.
/// </summary>
internal sealed class PooledFileOperation : IThreadPoolWorkItem, IValueTaskSource, IValueTaskSource<long>
{
    private const int MaxPooled = 1024;
    private static readonly ConcurrentQueue<PooledFileOperation> Pool = new();
    private static int _pooled;

    // Continuations run on the I/O thread as soon as the call returns: one thread hop per I/O, not two.
    private ManualResetValueTaskSourceCore<long> _core = new() { RunContinuationsAsynchronously = false };
    private FileBlockDevice? _device;
    private SafeFileHandle? _handle;
    private Memory<byte> _readBuffer;
    private ReadOnlyMemory<byte> _writeBuffer;
    private long _offset;
    private MemoryHandle _pin;
    private long _length;
    private Kind _kind;

    public enum Kind
    {
        Read,
        Write,
        WriteFua,
        DataSync,
        PunchHole,
    }

    /// <summary>Reads <paramref name="buffer"/> fully at <paramref name="offset"/>; bytes past the end of the file
    /// read as zeros.</summary>
    /// <param name="pin">Held until the call returns (O_DIRECT: the aligned buffer must not move), then released.</param>
    public static ValueTask ReadAsync(FileBlockDevice device, SafeFileHandle handle, Memory<byte> buffer, long offset, MemoryHandle pin = default)
    {
        var op = Start(device, handle, Kind.Read, offset, 0, buffer, default);
        op._pin = pin;
        return new ValueTask(op, op._core.Version);
    }

    public static ValueTask WriteAsync(FileBlockDevice device, SafeFileHandle handle, ReadOnlyMemory<byte> buffer, long offset, bool fua, MemoryHandle pin = default)
    {
        var op = Start(device, handle, fua ? Kind.WriteFua : Kind.Write, offset, 0, default, buffer);
        op._pin = pin;
        return new ValueTask(op, op._core.Version);
    }

    public static ValueTask DataSyncAsync(FileBlockDevice device, SafeFileHandle handle)
    {
        var op = Start(device, handle, Kind.DataSync, 0, 0, default, default);
        return new ValueTask(op, op._core.Version);
    }

    /// <summary>fallocate(2) PUNCH_HOLE|KEEP_SIZE; the result is 0 or the errno.</summary>
    public static ValueTask<long> PunchHoleAsync(FileBlockDevice device, SafeFileHandle handle, long offset, long length)
    {
        var op = Start(device, handle, Kind.PunchHole, offset, length, default, default);
        return new ValueTask<long>(op, op._core.Version);
    }

    private static PooledFileOperation Start(FileBlockDevice device, SafeFileHandle handle, Kind kind, long offset, long length, Memory<byte> read, ReadOnlyMemory<byte> write)
    {
        if (Pool.TryDequeue(out var op))
        {
            Interlocked.Decrement(ref _pooled);
        }
        else
        {
            op = new PooledFileOperation();
        }

        op._device = device;
        op._handle = handle;
        op._kind = kind;
        op._offset = offset;
        op._length = length;
        op._readBuffer = read;
        op._writeBuffer = write;
        ThreadPool.UnsafeQueueUserWorkItem(op, preferLocal: false);
        return op;
    }

    public void Execute()
    {
        long result = 0;
        Exception? error = null;
        try
        {
            var handle = _handle!;
            switch (_kind)
            {
                case Kind.Read:
                    ReadFully(handle);
                    break;
                case Kind.Write:
                    RandomAccess.Write(handle, _writeBuffer.Span, _offset);
                    break;
                case Kind.WriteFua:
                    RandomAccess.Write(handle, _writeBuffer.Span, _offset);
                    DataSync(handle);
                    break;
                case Kind.DataSync:
                    DataSync(handle);
                    break;
                default:
                    result = LinuxFile.PunchHole(handle, _offset, _length);
                    break;
            }
        }
        catch (Exception e)
        {
            error = Translate(e);
        }
        finally
        {
            _pin.Dispose();
            _pin = default;
        }

        // Outside the try: continuations run inline here, and their failures are not this I/O's.
        if (error is null)
        {
            _core.SetResult(result);
        }
        else
        {
            _core.SetException(error);
        }
    }

    private void ReadFully(SafeFileHandle handle)
    {
        var buffer = _readBuffer.Span;
        long offset = _offset;
        while (!buffer.IsEmpty)
        {
            int n = RandomAccess.Read(handle, buffer, offset);
            if (n == 0)
            {
                // Past the end of a file that shrank underneath us: what is not there reads as zeros.
                buffer.Clear();
                return;
            }

            buffer = buffer[n..];
            offset += n;
        }
    }

    private void DataSync(SafeFileHandle handle)
    {
        if (LinuxFile.FDataSync(handle) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw new BlockDeviceException(BlockDeviceErrorKind.Medium, $"fdatasync of {_device!.Path} failed: errno {errno}");
        }
    }

    private Exception Translate(Exception e)
    {
        if (e is BlockDeviceException or not IOException)
        {
            return e;
        }

        string what = _kind switch { Kind.Read => "read", Kind.PunchHole => "unmap", Kind.DataSync => "flush", _ => "write" };
        long lba = _offset / _device!.BlockSize;

        // ENOSPC (28) and EDQUOT (122): the file system under a sparse file is full.
        int errno = e.HResult & 0xFFFF;
        bool noSpace = errno is 28 or 122 || e.Message.Contains("No space", StringComparison.OrdinalIgnoreCase);
        var kind = noSpace && _kind != Kind.Read ? BlockDeviceErrorKind.NoSpace : BlockDeviceErrorKind.Medium;
        return new BlockDeviceException(kind, $"{what} of {_device.Path} at LBA {lba} failed: {e.Message}", e);
    }

    void IValueTaskSource.GetResult(short token) => GetResult(token);

    public long GetResult(short token)
    {
        try
        {
            return _core.GetResult(token);
        }
        finally
        {
            _core.Reset();
            _device = null;
            _handle = null;
            _readBuffer = default;
            _writeBuffer = default;
            if (Interlocked.Increment(ref _pooled) <= MaxPooled)
            {
                Pool.Enqueue(this);
            }
            else
            {
                Interlocked.Decrement(ref _pooled);
            }
        }
    }

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
