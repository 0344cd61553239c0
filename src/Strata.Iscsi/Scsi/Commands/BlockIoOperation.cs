using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;
using Strata.Blocks;

namespace Strata.Iscsi.Scsi.Commands;

/// <summary>
/// The READ/WRITE hot path as a reusable state machine: take the LBA range shared, issue one device call, release,
/// complete the task. One instance lives in each <see cref="ScsiTask.ExecutorState"/> and serves every command of
/// that task in turn, so even when the device completes asynchronously no state machine box is allocated (pooled
/// async builders miss their caches when completions land on other threads).
/// </summary>
internal sealed class BlockIoOperation : IValueTaskSource
{
    private readonly Action _afterLock;
    private readonly Action _afterIo;
    private ManualResetValueTaskSourceCore<bool> _core;
    private ConfiguredValueTaskAwaitable.ConfiguredValueTaskAwaiter _awaiter;
    private BlockLogicalUnit _unit = null!;
    private ScsiTask _task = null!;
    private long _lba;
    private Memory<byte> _buffer;
    private int _bytes;
    private ulong _mask;
    private WriteFlags _flags;
    private int _transferLength;
    private bool _write;
    private bool _pending;

    private BlockIoOperation()
    {
        _afterLock = AfterLock;
        _afterIo = AfterIo;
        _core.RunContinuationsAsynchronously = false;
    }

    public static BlockIoOperation For(ScsiTask task)
    {
        if (task.ExecutorState is BlockIoOperation op)
        {
            return op;
        }

        op = new BlockIoOperation();
        task.ExecutorState = op;
        return op;
    }

    /// <summary>Reads <paramref name="bytes"/> into <paramref name="readBuffer"/>, or writes the first
    /// <paramref name="bytes"/> of task.DataOut, at <paramref name="lba"/>; completes the task GOOD with
    /// <paramref name="transferLength"/>.</summary>
    public ValueTask Start(BlockLogicalUnit unit, ScsiTask task, bool write, long lba, Memory<byte> readBuffer, int bytes, WriteFlags flags, int transferLength)
    {
        _core.Reset();
        _unit = unit;
        _task = task;
        _write = write;
        _lba = lba;
        _buffer = readBuffer;
        _bytes = bytes;
        _flags = flags;
        _transferLength = transferLength;
        _pending = false;
        _mask = LbaRangeLock.MaskOf(lba, bytes / unit.BlockSize);
        ValueTask enter;
        try
        {
            enter = unit.RangeLock.EnterSharedAsync(_mask, task.Aborted);
        }
        catch (OperationCanceledException e)
        {
            return Finish(e, locked: false);
        }

        if (!enter.IsCompleted)
        {
            _awaiter = enter.ConfigureAwait(false).GetAwaiter();
            return Suspend(_afterLock);
        }

        try
        {
            enter.GetAwaiter().GetResult();
        }
        catch (OperationCanceledException e)
        {
            return Finish(e, locked: false);
        }

        return Issue();
    }

    public void GetResult(short token) => _core.GetResult(token);

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);

    private ValueTask Suspend(Action next)
    {
        _pending = true;
        var task = new ValueTask(this, _core.Version);
        _awaiter.UnsafeOnCompleted(next);
        return task;
    }

    private ValueTask Issue()
    {
        ValueTask io;
        try
        {
            io = _write
                ? _unit.Device.WriteAsync(_lba, _task.DataOut[.._bytes], _flags, _task.Aborted)
                : _unit.Device.ReadAsync(_lba, _buffer[.._bytes], _task.Aborted);
        }
        catch (Exception e) when (BlockLogicalUnit.IsHandled(e))
        {
            return Finish(e, locked: true);
        }

        if (!io.IsCompleted)
        {
            _awaiter = io.ConfigureAwait(false).GetAwaiter();
            return Suspend(_afterIo);
        }

        try
        {
            io.GetAwaiter().GetResult();
        }
        catch (Exception e) when (BlockLogicalUnit.IsHandled(e))
        {
            return Finish(e, locked: true);
        }

        return Finish(null, locked: true);
    }

    private void AfterLock()
    {
        try
        {
            _awaiter.GetResult();
        }
        catch (OperationCanceledException e)
        {
            Finish(e, locked: false);
            return;
        }

        Issue();
    }

    private void AfterIo()
    {
        try
        {
            _awaiter.GetResult();
        }
        catch (Exception e) when (BlockLogicalUnit.IsHandled(e))
        {
            Finish(e, locked: true);
            return;
        }

        Finish(null, locked: true);
    }

    private ValueTask Finish(Exception? error, bool locked)
    {
        if (locked)
        {
            _unit.RangeLock.ExitShared(_mask);
        }

        if (error is null)
        {
            BlockLogicalUnit.Good(_task, _transferLength);
        }
        else
        {
            _unit.Fail(_task, error, _write);
        }

        _awaiter = default;
        _buffer = default;
        if (_pending)
        {
            _core.SetResult(true);
        }

        return default;
    }
}
