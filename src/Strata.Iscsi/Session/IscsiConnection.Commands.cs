using System.Buffers.Binary;
using System.Net;
using System.Numerics;
using System.Runtime.CompilerServices;
using Strata.Iscsi.Login;
using Strata.Iscsi.Pdu;
using Strata.Iscsi.Scsi;

namespace Strata.Iscsi.Session;

internal sealed partial class IscsiConnection
{
    private readonly Stack<IscsiTask> _taskPool = new();
    private readonly Dictionary<uint, IscsiTask> _tasks = new();
    /// <summary>Non-immediate requests ahead of a CmdSN gap, by CmdSN: an <see cref="IscsiTask"/> for a SCSI
    /// command, a <see cref="HeldControl"/> for a NOP-Out, Text, Task Management or Logout request; null for a
    /// command aborted or rejected while it waited, whose CmdSN still counts as received when the gap closes
    /// (RFC 7143 11.5.1: the aborted command was delivered). Keyed by CmdSN inside [ExpCmdSN, MaxCmdSN], so it
    /// never holds more than the window.</summary>
    private readonly SortedDictionary<uint, object?> _waitingForCmdSN = new(SerialNumberComparer.Instance);

    /// <summary>A held control request has reached ExpCmdSN: the receive loop processes it
    /// (<see cref="RunHeldControlsAsync"/>) before it reads the next PDU.</summary>
    private bool _controlReady;
    private uint _nextTargetTransferTag = 1;

    /// <summary>The full feature phase: dispatch every PDU until logout, close or end of stream.</summary>
    private async Task FullFeaturePhaseAsync()
    {
        while (!_closed.IsCancellationRequested)
        {
            if (_sender.Congested)
            {
                // The initiator is not reading our answers: stop reading its requests until it does (the NOP-In
                // ping drops it if it never does).
                await _sender.WaitForRoomAsync(_closed.Token).ConfigureAwait(false);
            }

            if (!await ReadHeaderAsync().ConfigureAwait(false))
            {
                return;
            }

            int length = DataSegmentLength;
            if (length > Parameters.TargetMaxRecvDataSegmentLength)
            {
                // Beyond what we declared: the stream cannot be trusted to resynchronise (RFC 7143 7.2).
                SendReject(RejectReason.ProtocolError);
                Close($"data segment of {length} bytes exceeds MaxRecvDataSegmentLength {Parameters.TargetMaxRecvDataSegmentLength}");
                return;
            }

            var opcode = (Opcode)(_header[0] & 0x3F);
            switch (opcode)
            {
                case Opcode.ScsiCommand:
                    await ScsiCommandAsync().ConfigureAwait(false);
                    break;
                case Opcode.ScsiDataOut:
                    await DataOutAsync().ConfigureAwait(false);
                    break;
                case Opcode.NopOut:
                case Opcode.TaskManagementRequest:
                case Opcode.TextRequest:
                case Opcode.LogoutRequest:
                    if (await ControlArrivedAsync(opcode).ConfigureAwait(false) is { } data)
                    {
                        await ProcessControlAsync(opcode, data).ConfigureAwait(false);
                    }

                    // What waited for this one's CmdSN goes now, in order.
                    AdmitWaitingCommands();
                    break;
                case Opcode.LoginRequest:
                    // A login in the full feature phase is a protocol error (RFC 7143 6.3).
                    await SkipDataAsync().ConfigureAwait(false);
                    SendReject(RejectReason.ProtocolError);
                    break;
                case Opcode.Snack:
                    // SNACK needs ERL 1 or more; we negotiate ERL 0 (RFC 7143 11.16).
                    await SkipDataAsync().ConfigureAwait(false);
                    SendReject(RejectReason.ProtocolError);
                    break;
                default:
                    await SkipDataAsync().ConfigureAwait(false);
                    SendReject(RejectReason.CommandNotSupported);
                    break;
            }

            if (_controlReady)
            {
                await RunHeldControlsAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>A SCSI Command PDU (RFC 7143 11.3).</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ScsiCommandAsync()
    {
        var session = Session!;
        byte flags = _header[1];
        bool immediate = (_header[0] & 0x40) != 0;
        bool final = (flags & 0x80) != 0;
        bool read = (flags & 0x40) != 0;
        bool write = (flags & 0x20) != 0;
        uint itt = BinaryPrimitives.ReadUInt32BigEndian(_header.AsSpan(16));
        uint edtl = BinaryPrimitives.ReadUInt32BigEndian(_header.AsSpan(20));
        uint cmdSN = BinaryPrimitives.ReadUInt32BigEndian(_header.AsSpan(24));
        int immediateLength = DataSegmentLength;

        if (!immediate)
        {
            var check = Window.Check(cmdSN);
            if (check == CmdSNCheck.OutOfWindow || (check == CmdSNCheck.Ahead && _waitingForCmdSN.ContainsKey(cmdSN)))
            {
                // Outside [ExpCmdSN, MaxCmdSN], or a duplicate of a command already held for that CmdSN: silently
                // ignored (RFC 7143 3.2.2.1). Taking the duplicate used to orphan the first one, with its buffer,
                // until the connection ended: unbounded memory from one connection.
                await SkipDataAsync().ConfigureAwait(false);
                return;
            }
        }
        else if (CountImmediateTasks() >= MaxImmediateTasks)
        {
            // Immediate commands take no CmdSN slot, so the window does not bound them (RFC 7143 3.2.2.1 lets
            // the target refuse them: Reject "Immediate command reject", 11.17.1).
            await SkipDataAsync().ConfigureAwait(false);
            SendReject(RejectReason.ImmediateCommandRejected);
            return;
        }

        string? violation = null;
        if (session.Executor is null)
        {
            violation = "a SCSI command in a discovery session";
        }
        else if (itt == BasicHeaderSegment.ReservedTag)
        {
            violation = "the reserved ITT 0xffffffff";
        }
        else if (edtl > (uint)session.MaxTransferLength)
        {
            violation = null; // answered below with CHECK CONDITION, once the data is drained
        }
        else if (immediateLength > 0 && (!write || !Parameters.ImmediateData || immediateLength > edtl || immediateLength > Parameters.FirstBurstLength))
        {
            violation = "immediate data that was not negotiated or exceeds the expected length";
        }

        if (violation is null && TaskExists(itt))
        {
            await SkipDataAsync().ConfigureAwait(false);
            ConsumeRejectedCmdSN(immediate, cmdSN);
            SendReject(RejectReason.TaskInProgress);
            return;
        }

        if (violation is not null)
        {
            await SkipDataAsync().ConfigureAwait(false);
            ConsumeRejectedCmdSN(immediate, cmdSN);
            SendReject(RejectReason.InvalidPduField);
            return;
        }

        var task = RentTask();
        var scsi = task.Scsi;
        task.Itt = itt;
        task.CmdSN = cmdSN;
        task.Immediate = immediate;
        scsi.Nexus = session.Nexus;
        scsi.Tag = itt;
        scsi.Lun = DecodeLun(BinaryPrimitives.ReadUInt64BigEndian(_header.AsSpan(8)));
        scsi.Attribute = (ScsiTaskAttribute)(flags & 0x07);
        scsi.ReadExpected = read;
        scsi.WriteExpected = write;
        scsi.ExpectedDataTransferLength = (int)Math.Min(edtl, int.MaxValue);
        SetCdb(scsi);

        bool tooLong = edtl > (uint)session.MaxTransferLength;
        bool noBuffer = false;
        long charge = 0;
        if (!tooLong && (write || read) && scsi.ExpectedDataTransferLength > 0)
        {
            // What the pool will hand out: a power of two, at least 4 KiB.
            charge = BitOperations.RoundUpToPowerOf2((uint)Math.Max(scsi.ExpectedDataTransferLength, 4096));
            noBuffer = !session.TryChargeBuffer(charge);
        }

        if (tooLong || noBuffer)
        {
            // Answered without execution; any data the initiator still sends for it is dropped.
            await SkipDataAsync().ConfigureAwait(false);
            scsi.ExpectedDataTransferLength = 0;
            scsi.WriteExpected = false;
            scsi.ReadExpected = false;
            task.UnsolicitedDone = true;
            task.UnsolicitedEnd = 0;
            task.AnsweredByTransport = true;
        }
        else if (write || read)
        {
            int size = scsi.ExpectedDataTransferLength;
            if (size > 0)
            {
                task.BufferCharge = charge;
                task.Buffer = session.Buffers.Rent(size);
                if (write)
                {
                    scsi.DataOut = task.Buffer.AsMemory(0, size);
                }

                if (read)
                {
                    scsi.DataIn = task.Buffer.AsMemory(0, size);
                }
            }

            if (immediateLength > 0)
            {
                try
                {
                    await ReceiveDataAsync(task.Buffer.AsMemory(0, immediateLength)).ConfigureAwait(false);
                }
                catch
                {
                    // Not in the task table yet, so nothing else would return its buffer and budget: a PDU cut
                    // inside its immediate data leaked both, and the budget ran out for good.
                    Sent(task);
                    throw;
                }

                task.ReceivedDataOut = immediateLength;
            }

            // Unsolicited Data-Out follows unless InitialR2T=Yes or F is set (RFC 7143 3.2.4.2).
            task.UnsolicitedEnd = !Parameters.InitialR2T && !final && write
                ? Math.Min(Parameters.FirstBurstLength, task.ExpectedDataOut)
                : immediateLength;
            task.UnsolicitedDone = task.UnsolicitedEnd <= immediateLength;
        }
        else
        {
            await SkipDataAsync().ConfigureAwait(false);
            task.UnsolicitedDone = true;
        }

        lock (_tasks)
        {
            _tasks[itt] = task;
        }

        if (tooLong)
        {
            // More than a task buffer can hold: the block limits VPD page told the initiator not to.
            TransportSense.SetInvalidFieldInCdb(scsi);
        }
        else if (noBuffer)
        {
            // Out of task buffer budget: BUSY when this would be the session's only task, else TASK SET FULL
            // (SAM-5 5.3); the initiator retries.
            int others;
            lock (_tasks)
            {
                others = _tasks.Count - 1;
            }

            TransportSense.SetTaskSetFull(scsi, busy: others == 0);
        }

        if (immediate)
        {
            StartWhenReady(task, admitted: true);
        }
        else if (cmdSN == Window.ExpCmdSN)
        {
            Window.Advance();
            StartWhenReady(task, admitted: true);
            AdmitWaitingCommands();
        }
        else
        {
            // Ahead of a gap in CmdSN: held until the commands before it arrive (in-order delivery, RFC 7143 3.2.2.1).
            _waitingForCmdSN[cmdSN] = task;
            StartWhenReady(task, admitted: false);
        }
    }

    /// <summary>
    /// A rejected command still uses up its CmdSN, at once when it was its turn, when its turn comes when it arrived
    /// ahead of a gap: otherwise every later command would wait behind a gap that never fills, and the session
    /// would stall on one bad PDU.
    /// </summary>
    private void ConsumeRejectedCmdSN(bool immediate, uint cmdSN)
    {
        if (immediate)
        {
            return;
        }

        switch (Window.Check(cmdSN))
        {
            case CmdSNCheck.Next:
                Window.Advance();
                Window.Release();
                AdmitWaitingCommands();
                break;
            case CmdSNCheck.Ahead:
                // Ahead of a gap: its CmdSN is used up when its turn comes, like that of a command aborted while
                // it waited. Left out, ExpCmdSN stopped at it once the gap filled and every later command waited
                // for a CmdSN that had already come.
                _waitingForCmdSN.TryAdd(cmdSN, null);
                break;
        }
    }

    /// <summary>Admits the held commands whose turn has come, in CmdSN order; stops at a held control request,
    /// which the receive loop processes (it may wait: a logout for the tasks, a TMF for the aborted ones).</summary>
    private void AdmitWaitingCommands()
    {
        while (_waitingForCmdSN.TryGetValue(Window.ExpCmdSN, out var next))
        {
            if (next is HeldControl)
            {
                _controlReady = true;
                return;
            }

            _waitingForCmdSN.Remove(Window.ExpCmdSN);
            Window.Advance();
            if (next is null)
            {
                // Aborted or rejected while it waited: its CmdSN is consumed, it takes no slot.
                Window.Release();
                continue;
            }

            var task = (IscsiTask)next;
            task.Admitted = true;
            StartWhenReady(task, admitted: true);
        }
    }

    /// <summary>Sends R2Ts for data still missing, or executes the task once all its data is here.</summary>
    private void StartWhenReady(IscsiTask task, bool admitted)
    {
        task.Admitted |= admitted;
        if (task.ReceivedDataOut < task.ExpectedDataOut)
        {
            if (task.UnsolicitedDone)
            {
                SendR2Ts(task);
            }

            return;
        }

        if (task.Admitted && !task.Executing)
        {
            if (!task.AnsweredByTransport)
            {
                task.Execute(Session!.Executor!);
            }
            else
            {
                task.Executing = true;
                Executed(task);
            }
        }
    }

    /// <summary>R2Ts for the solicited part of a write, at most MaxOutstandingR2T at a time, each at most
    /// MaxBurstLength (RFC 7143 11.8).</summary>
    private void SendR2Ts(IscsiTask task)
    {
        int expected = task.ExpectedDataOut;
        int burst = Parameters.MaxBurstLength;
        if (task.SolicitedEnd < task.ReceivedDataOut)
        {
            task.SolicitedEnd = task.ReceivedDataOut;
        }

        if (task.TargetTransferTag == 0)
        {
            task.TargetTransferTag = NextTargetTransferTag();
        }

        while (task.SolicitedEnd < expected)
        {
            int outstanding = (task.SolicitedEnd - task.ReceivedDataOut + burst - 1) / burst;
            if (outstanding >= Parameters.MaxOutstandingR2T)
            {
                return;
            }

            int offset = task.SolicitedEnd;
            int length = Math.Min(burst, expected - offset);
            var item = new Outbound { Kind = OutboundKind.Pdu, StatSN = StatSNUse.Current };
            Span<byte> h = item.Header;
            h[0] = (byte)Opcode.ReadyToTransfer;
            h[1] = 0x80;
            BinaryPrimitives.WriteUInt64BigEndian(h[8..], EncodeLun(task.Scsi.Lun));
            BinaryPrimitives.WriteUInt32BigEndian(h[16..], task.Itt);
            BinaryPrimitives.WriteUInt32BigEndian(h[20..], task.TargetTransferTag);
            BinaryPrimitives.WriteUInt32BigEndian(h[36..], task.NextR2TSN++);
            BinaryPrimitives.WriteUInt32BigEndian(h[40..], (uint)offset);
            BinaryPrimitives.WriteUInt32BigEndian(h[44..], (uint)length);
            task.SolicitedEnd = offset + length;
            Enqueue(item);
        }
    }

    /// <summary>A SCSI Data-Out PDU (RFC 7143 11.7): unsolicited (TTT 0xffffffff) or answering an R2T.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask DataOutAsync()
    {
        bool final = (_header[1] & 0x80) != 0;
        uint itt = BinaryPrimitives.ReadUInt32BigEndian(_header.AsSpan(16));
        uint ttt = BinaryPrimitives.ReadUInt32BigEndian(_header.AsSpan(20));
        uint dataSN = BinaryPrimitives.ReadUInt32BigEndian(_header.AsSpan(36));
        int offset = (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(_header.AsSpan(40)), int.MaxValue);
        int length = DataSegmentLength;

        IscsiTask? task;
        lock (_tasks)
        {
            _tasks.TryGetValue(itt, out task);
        }

        if (task is null || task.Aborted || task.Executing)
        {
            // Data for a task that was aborted (or never existed) is dropped (RFC 7143 11.5.1).
            await SkipDataAsync().ConfigureAwait(false);
            return;
        }

        bool unsolicited = ttt == BasicHeaderSegment.ReservedTag;
        int limit = unsolicited ? task.UnsolicitedEnd : task.SolicitedEnd;
        if (offset != task.ReceivedDataOut || offset + length > limit || (unsolicited && task.UnsolicitedDone) ||
            (!unsolicited && ttt != task.TargetTransferTag) || dataSN != task.NextDataOutSN)
        {
            // Out of order, outside its burst, or a wrong tag: DataPDUInOrder=Yes forbids all of these.
            await SkipDataAsync().ConfigureAwait(false);
            SendReject(RejectReason.ProtocolError);
            return;
        }

        await ReceiveDataAsync(task.Buffer.AsMemory(offset, length)).ConfigureAwait(false);
        task.ReceivedDataOut += length;
        task.NextDataOutSN++;
        if (final)
        {
            task.NextDataOutSN = 0;
            if (unsolicited)
            {
                task.UnsolicitedDone = true;
            }
        }
        else if (task.ReceivedDataOut == limit)
        {
            // The burst is complete but F is missing; its next PDU would overrun it.
            task.NextDataOutSN = 0;
            if (unsolicited)
            {
                task.UnsolicitedDone = true;
            }
        }

        StartWhenReady(task, admitted: false);
    }

    /// <summary>Immediate SCSI commands one connection may have in flight.</summary>
    private const int MaxImmediateTasks = 32;

    private int CountImmediateTasks()
    {
        lock (_tasks)
        {
            int n = 0;
            foreach (var t in _tasks.Values)
            {
                n += t.Immediate ? 1 : 0;
            }

            return n;
        }
    }

    private bool TaskExists(uint itt)
    {
        lock (_tasks)
        {
            return _tasks.ContainsKey(itt);
        }
    }

    private uint NextTargetTransferTag()
    {
        uint tag = _nextTargetTransferTag++;
        if (tag is 0 or BasicHeaderSegment.ReservedTag)
        {
            tag = _nextTargetTransferTag = 1;
            _nextTargetTransferTag++;
        }

        return tag;
    }

    private void SetCdb(ScsiTask scsi)
    {
        // An extended CDB travels in an AHS of type 1 after the first 16 bytes (RFC 7143 11.2.2.3).
        Span<byte> cdb = stackalloc byte[ScsiTask.MaxCdbLength];
        _header.AsSpan(32, 16).CopyTo(cdb);
        int cdbLength = 16;
        int at = 0;
        while (at + 4 <= _ahsLength)
        {
            int ahsLength = BinaryPrimitives.ReadUInt16BigEndian(_ahs.AsSpan(at));
            byte type = _ahs[at + 2];
            if (type == 1 && ahsLength > 1 && at + 3 + ahsLength <= _ahsLength)
            {
                int extra = Math.Min(ahsLength - 1, ScsiTask.MaxCdbLength - 16);
                _ahs.AsSpan(at + 4, extra).CopyTo(cdb[16..]);
                cdbLength = 16 + extra;
            }

            at += BasicHeaderSegment.Padded(3 + ahsLength);
        }

        scsi.SetCdb(cdb[..cdbLength]);
    }

    /// <summary>The LUN number from the 8-byte LUN field: peripheral (00b) and flat (01b) addressing
    /// (SAM-5 4.7.7). Other methods give a number no logical unit has.</summary>
    internal static ulong DecodeLun(ulong field)
    {
        int method = (int)(field >> 62);
        return method switch
        {
            0 => (field >> 48) & 0xFF,
            1 => (field >> 48) & 0x3FFF,
            _ => ulong.MaxValue,
        };
    }

    internal static ulong EncodeLun(ulong lun) =>
        lun < 256 ? lun << 48 : (0x4000UL | (lun & 0x3FFF)) << 48;

    private IscsiTask RentTask()
    {
        lock (_taskPool)
        {
            if (_taskPool.TryPop(out var task))
            {
                return task;
            }
        }

        return new IscsiTask(this);
    }

    /// <summary>Called by a task when SCSI execution threw (a bug below us): the initiator gets a hardware error.</summary>
    internal void ExecutionFailed(IscsiTask task, Exception e)
    {
        if (e is OperationCanceledException && task.Aborted)
        {
            // The abort we asked for (ABORT TASK, reset, connection loss): no response goes out anyway.
            return;
        }

        _server.Log($"task {task.Itt:x8} failed: {e}");
        TransportSense.SetInternalTargetFailure(task.Scsi);
    }

    /// <summary>Called when SCSI execution of a task finished: its response is queued, unless it was aborted.</summary>
    internal void Executed(IscsiTask task)
    {
        bool aborted;
        TaskCompletionSource? finished;
        lock (_tasks)
        {
            // Off the table before the response is on the wire: the initiator may reuse the ITT at once. From
            // here on task management no longer finds it; whether it was aborted first is decided under this
            // lock, where task management marks it (AbortTasksAsync).
            if (_tasks.TryGetValue(task.Itt, out var current) && current == task)
            {
                _tasks.Remove(task.Itt);
            }

            task.Executing = false;
            aborted = task.Aborted;
            finished = task.ExecutionFinished;
        }

        if (aborted || IsClosed)
        {
            if (!task.Immediate && task.Admitted)
            {
                Window.Release();
            }

            Sent(task);
        }
        else
        {
            Enqueue(new Outbound { Kind = OutboundKind.ScsiResult, Task = task });
        }

        finished?.TrySetResult();
    }

    /// <summary>Called once a task's response is on the wire (or will never be): its memory is reused.</summary>
    internal void Sent(IscsiTask task)
    {
        if (task.Buffer is { } buffer)
        {
            Session?.Buffers.Return(buffer);
            Session?.CreditBuffer(task.BufferCharge);
        }

        task.Reset();
        lock (_taskPool)
        {
            if (_taskPool.Count < 2 * Window.Capacity)
            {
                _taskPool.Push(task);
            }
        }
    }

    private sealed class SerialNumberComparer : IComparer<uint>
    {
        public static readonly SerialNumberComparer Instance = new();

        public int Compare(uint x, uint y) => x == y ? 0 : SerialNumber.LessThan(x, y) ? -1 : 1;
    }
}
