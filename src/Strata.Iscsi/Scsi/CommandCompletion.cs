using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;
using Strata.Blocks;

namespace Strata.Iscsi.Scsi;

/// <summary>
/// Finishes a command whose work completes later (a device read or write, or a whole handler) without the box
/// an async method allocates when it completes on another thread than it started, which is the rule for I/O.
/// One per <see cref="ScsiTask"/> and level, reused for every command the task carries: on completion it
/// releases the LBA range, sets GOOD with the transfer length, or maps a device failure or an abort to the
/// status and sense an initiator expects.
/// </summary>
internal sealed class CommandCompletion : IValueTaskSource
{
    private readonly Action _onCompleted;
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = false };
    private ConfiguredValueTaskAwaitable.ConfiguredValueTaskAwaiter _pending;
    private BlockLogicalUnit? _unit;
    private ScsiTask? _task;
    private ulong _sharedLock;
    private int _transferLength;
    private bool _writing;

    public CommandCompletion()
    {
        _onCompleted = OnCompleted;
    }

    /// <summary>
    /// Completes when <paramref name="pending"/> does. Then: the range <paramref name="sharedLock"/> (if not 0) is
    /// released; on success the task is GOOD with <paramref name="transferLength"/> bytes (unless it is negative:
    /// the work set the outcome itself); a device failure or abort becomes the task's status and sense.
    /// </summary>
    public ValueTask Await(ValueTask pending, BlockLogicalUnit unit, ScsiTask task, bool writing, ulong sharedLock, int transferLength)
    {
        _unit = unit;
        _task = task;
        _writing = writing;
        _sharedLock = sharedLock;
        _transferLength = transferLength;
        _pending = pending.ConfigureAwait(false).GetAwaiter();
        if (_pending.IsCompleted)
        {
            Finish();
            return default;
        }

        short version = _core.Version;
        _pending.UnsafeOnCompleted(_onCompleted);
        return new ValueTask(this, version);
    }

    private void OnCompleted()
    {
        try
        {
            Finish();
        }
        catch (Exception e)
        {
            _core.SetException(e);
            return;
        }

        _core.SetResult(true);
    }

    /// <summary>Takes the result of the pending work into the task; throws only for failures that are bugs.</summary>
    private void Finish()
    {
        var unit = _unit!;
        var task = _task!;
        try
        {
            _pending.GetResult();
            if (_transferLength >= 0)
            {
                BlockLogicalUnit.Good(task, _transferLength);
            }
        }
        catch (Exception e) when (e is BlockDeviceException or OperationCanceledException)
        {
            unit.Fail(task, e, _writing);
        }
        finally
        {
            if (_sharedLock != 0)
            {
                unit.RangeLock.ExitShared(_sharedLock);
            }

            _pending = default;
            _unit = null;
            _task = null;
        }
    }

    public void GetResult(short token)
    {
        try
        {
            _core.GetResult(token);
        }
        finally
        {
            _core.Reset();
        }
    }

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
