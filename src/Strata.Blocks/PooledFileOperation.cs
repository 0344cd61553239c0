using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Threading.Tasks.Sources;
using Microsoft.Win32.SafeHandles;

namespace Strata.Blocks;

/// <summary>
/// A blocking file call (pread, pwrite, fdatasync, fallocate) run on the thread pool and awaited as a ValueTask,
/// with the operation object pooled: unlike RandomAccess's async path, which reuses one operation per handle and
/// allocates for every concurrent one, this allocates nothing per I/O with many I/Os in flight.
/// </summary>
internal sealed class PooledFileOperation : IThreadPoolWorkItem, IValueTaskSource<long>
{
    private const int MaxPooled = 1024;
    private static readonly ConcurrentQueue<PooledFileOperation> Pool = new();
    private static int _pooled;

    // Continuations run on the I/O thread as soon as the call returns: one thread hop per I/O, not two.
    private ManualResetValueTaskSourceCore<long> _core = new() { RunContinuationsAsynchronously = false };
    private SafeFileHandle? _handle;
    private Memory<byte> _readBuffer;
    private ReadOnlyMemory<byte> _writeBuffer;
    private long _offset;
    private long _length;
    private Kind _kind;

    private enum Kind
    {
        Read,
        Write,
        DataSync,
        PunchHole,
    }

    /// <summary>Reads into <paramref name="buffer"/> at <paramref name="offset"/>; the result is the bytes read.</summary>
    public static ValueTask<long> ReadAsync(SafeFileHandle handle, Memory<byte> buffer, long offset) =>
        Start(handle, Kind.Read, offset, 0, buffer, default);

    public static ValueTask<long> WriteAsync(SafeFileHandle handle, ReadOnlyMemory<byte> buffer, long offset) =>
        Start(handle, Kind.Write, offset, 0, default, buffer);

    /// <summary>fdatasync(2); the result is 0 or the errno.</summary>
    public static ValueTask<long> DataSyncAsync(SafeFileHandle handle) => Start(handle, Kind.DataSync, 0, 0, default, default);

    /// <summary>fallocate(2) PUNCH_HOLE|KEEP_SIZE; the result is 0 or the errno.</summary>
    public static ValueTask<long> PunchHoleAsync(SafeFileHandle handle, long offset, long length) =>
        Start(handle, Kind.PunchHole, offset, length, default, default);

    private static ValueTask<long> Start(SafeFileHandle handle, Kind kind, long offset, long length, Memory<byte> read, ReadOnlyMemory<byte> write)
    {
        if (!Pool.TryDequeue(out var op))
        {
            op = new PooledFileOperation();
        }
        else
        {
            Interlocked.Decrement(ref _pooled);
        }

        op._handle = handle;
        op._kind = kind;
        op._offset = offset;
        op._length = length;
        op._readBuffer = read;
        op._writeBuffer = write;
        ThreadPool.UnsafeQueueUserWorkItem(op, preferLocal: false);
        return new ValueTask<long>(op, op._core.Version);
    }

    public void Execute()
    {
        try
        {
            var handle = _handle!;
            long result = _kind switch
            {
                Kind.Read => RandomAccess.Read(handle, _readBuffer.Span, _offset),
                Kind.Write => WriteAll(handle),
                Kind.DataSync => LinuxFile.FDataSync(handle) == 0 ? 0 : Marshal.GetLastPInvokeError(),
                _ => LinuxFile.PunchHole(handle, _offset, _length),
            };
            _core.SetResult(result);
        }
        catch (Exception e)
        {
            _core.SetException(e);
        }
    }

    private long WriteAll(SafeFileHandle handle)
    {
        RandomAccess.Write(handle, _writeBuffer.Span, _offset);
        return _writeBuffer.Length;
    }

    public long GetResult(short token)
    {
        try
        {
            return _core.GetResult(token);
        }
        finally
        {
            _core.Reset();
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
