using System.Buffers.Binary;
using Strata.Iscsi.Pdu;

namespace Strata.Iscsi.Session;

internal sealed partial class IscsiConnection
{
    /// <summary>
    /// A Task Management Function Request (RFC 7143 11.5). Aborted tasks get no response of their own; the TMF
    /// response goes out only once they have stopped executing, so "function complete" means they are gone.
    /// </summary>
    private async ValueTask ProcessTaskManagementAsync()
    {
        bool immediate = (_header[0] & 0x40) != 0;
        var function = (TaskManagementFunction)(_header[1] & 0x7F);
        ulong lun = DecodeLun(BinaryPrimitives.ReadUInt64BigEndian(_header.AsSpan(8)));
        uint itt = BinaryPrimitives.ReadUInt32BigEndian(_header.AsSpan(16));
        uint referencedTag = BinaryPrimitives.ReadUInt32BigEndian(_header.AsSpan(20));
        uint cmdSN = BinaryPrimitives.ReadUInt32BigEndian(_header.AsSpan(24));
        uint refCmdSN = BinaryPrimitives.ReadUInt32BigEndian(_header.AsSpan(32));
        bool taken = !immediate;

        var session = Session!;
        var executor = session.Executor;
        bool closeAfter = false;
        TaskManagementResponse response;
        switch (function)
        {
            case TaskManagementFunction.AbortTask:
                response = await AbortTaskAsync(referencedTag, refCmdSN, cmdSN).ConfigureAwait(false);
                break;
            case TaskManagementFunction.AbortTaskSet:
            case TaskManagementFunction.ClearTaskSet:
                if (executor is null || !executor.HasLun(lun))
                {
                    response = TaskManagementResponse.LunDoesNotExist;
                    break;
                }

                // A non-immediate one is delivered in CmdSN order: commands after it, still held for a gap
                // (not admitted), are not in the task set it aborts.
                await AbortTasksAsync(t => t.Scsi.Lun == lun && (immediate || t.Admitted)).ConfigureAwait(false);
                if (function == TaskManagementFunction.ClearTaskSet)
                {
                    executor.TasksAborted(lun, session.Nexus);
                }

                response = TaskManagementResponse.FunctionComplete;
                break;
            case TaskManagementFunction.LogicalUnitReset:
                if (executor is null || !executor.HasLun(lun))
                {
                    response = TaskManagementResponse.LunDoesNotExist;
                    break;
                }

                await AbortTasksAsync(t => t.Scsi.Lun == lun).ConfigureAwait(false);
                executor.LogicalUnitReset(lun, session.Nexus);
                response = TaskManagementResponse.FunctionComplete;
                break;
            case TaskManagementFunction.TargetWarmReset:
            case TaskManagementFunction.TargetColdReset:
                if (executor is null)
                {
                    response = TaskManagementResponse.FunctionRejected;
                    break;
                }

                await AbortTasksAsync(_ => true).ConfigureAwait(false);
                executor.TargetReset(session.Nexus);
                response = TaskManagementResponse.FunctionComplete;

                // A cold reset also drops every connection (RFC 7143 11.5.1), this one after its response.
                closeAfter = function == TaskManagementFunction.TargetColdReset;
                break;
            case TaskManagementFunction.TaskReassign:
                // Reassigning a task to another connection needs ERL 2; we run ERL 0.
                response = TaskManagementResponse.TaskAllegianceReassignmentNotSupported;
                break;
            case TaskManagementFunction.ClearAca:
                // We never establish an ACA condition (NACA is not supported in the control byte).
                response = TaskManagementResponse.FunctionNotSupported;
                break;
            default:
                response = TaskManagementResponse.FunctionRejected;
                break;
        }

        var item = new Outbound { Kind = OutboundKind.Pdu, StatSN = StatSNUse.Advance, ReleasesSlot = taken, CloseAfter = closeAfter };
        Span<byte> h = item.Header;
        h[0] = (byte)Opcode.TaskManagementResponse;
        h[1] = 0x80;
        h[2] = (byte)response;
        BinaryPrimitives.WriteUInt32BigEndian(h[16..], itt);
        Enqueue(item);
    }

    private async Task<TaskManagementResponse> AbortTaskAsync(uint referencedTag, uint refCmdSN, uint cmdSN)
    {
        // Found and marked in one step, under the lock the completion path takes (Executed): either the abort
        // marks the task first, and no response of its own goes out, or its completion came first and queued its
        // response, and the task no longer exists for us. Looking it up first and marking it after (as this did)
        // let a command complete in between: the initiator got GOOD for it and "function complete" for its abort
        // (libiscsi's iSCSITMF.AbortTaskSimpleAsync, about 1 run in 10).
        if (await AbortTasksAsync(t => t.Itt == referencedTag).ConfigureAwait(false) > 0)
        {
            return TaskManagementResponse.FunctionComplete;
        }

        // Not here. RFC 7143 11.5.1: if RefCmdSN is inside the window and before this request's CmdSN, the
        // command is yet to arrive and is taken as received-and-aborted; otherwise it already completed (its
        // response is out, or queued) or never existed.
        bool pending = SerialNumber.InWindow(refCmdSN, Window.ExpCmdSN, Window.MaxCmdSN) && SerialNumber.LessThan(refCmdSN, cmdSN);
        return pending ? TaskManagementResponse.FunctionComplete : TaskManagementResponse.TaskDoesNotExist;
    }

    /// <summary>Aborts this connection's tasks that <paramref name="match"/> selects and waits until none of
    /// them executes any more; says how many it aborted. A task whose execution has finished is no longer
    /// among them: its response is queued (<see cref="Executed"/> takes it off the table under the same lock).</summary>
    private async Task<int> AbortTasksAsync(Func<IscsiTask, bool> match)
    {
        int aborted = 0;
        List<IscsiTask> stopped = [];
        List<Task> running = [];
        lock (_tasks)
        {
            foreach (var t in _tasks.Values)
            {
                if (!match(t))
                {
                    continue;
                }

                t.Aborted = true;
                t.Scsi.Abort();
                aborted++;
                if (t.Executing)
                {
                    t.ExecutionFinished ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    running.Add(t.ExecutionFinished.Task);
                }
                else
                {
                    stopped.Add(t);
                }
            }

            foreach (var t in stopped)
            {
                _tasks.Remove(t.Itt);
            }
        }

        foreach (var t in stopped)
        {
            foreach (var waiting in _waitingForCmdSN)
            {
                if (ReferenceEquals(waiting.Value, t))
                {
                    // Its CmdSN stays taken: dropping it left a gap that held every later command forever.
                    _waitingForCmdSN[waiting.Key] = null;
                    break;
                }
            }

            if (!t.Immediate && t.Admitted)
            {
                Window.Release();
            }

            Sent(t);
        }

        await Task.WhenAll(running).ConfigureAwait(false);
        return aborted;
    }
}
