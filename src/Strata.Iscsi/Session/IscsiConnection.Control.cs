using System.Runtime.CompilerServices;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Strata.Iscsi.Login;
using Strata.Iscsi.Pdu;

namespace Strata.Iscsi.Session;

internal sealed partial class IscsiConnection
{
    /// <summary>The most text one request may gather across C=1 parts.</summary>
    private const int MaxTextRequest = 64 * 1024;

    private readonly List<byte> _textRequest = [];
    private FullFeatureTextNegotiator? _textNegotiator;
    private byte[]? _textAnswer;
    private int _textAnswerSent;
    private uint _textAnswerTag;
    private uint _nextPingTag = 1;

    /// <summary>A NOP-Out (RFC 7143 11.18) asking for an answer: the NOP-In echoes its data. Its CmdSN, if
    /// non-immediate, is taken (<see cref="ControlArrivedAsync"/>).</summary>
    private ValueTask ProcessNopOut(ReadOnlyMemory<byte> data)
    {
        bool immediate = (_header[0] & 0x40) != 0;
        uint itt = BinaryPrimitives.ReadUInt32BigEndian(_header.AsSpan(16));
        ulong lun = BinaryPrimitives.ReadUInt64BigEndian(_header.AsSpan(8));

        // The ping data comes back in the NOP-In (it was bounded by our MaxRecvDataSegmentLength, and the
        // initiator's bounds what we send).
        var echo = data.Length == 0 ? ReadOnlyMemory<byte>.Empty
            : data[..Math.Min(data.Length, Parameters.InitiatorMaxRecvDataSegmentLength)].ToArray();
        var item = new Outbound { Kind = OutboundKind.Pdu, StatSN = StatSNUse.Advance, Data = echo, ReleasesSlot = !immediate };
        Span<byte> h = item.Header;
        h[0] = (byte)Opcode.NopIn;
        h[1] = 0x80;
        BinaryPrimitives.WriteUInt64BigEndian(h[8..], lun);
        BinaryPrimitives.WriteUInt32BigEndian(h[16..], itt);
        BinaryPrimitives.WriteUInt32BigEndian(h[20..], BasicHeaderSegment.ReservedTag);
        Enqueue(item);
        return ValueTask.CompletedTask;
    }

    /// <summary>Our ping: a NOP-In asking for a NOP-Out (TTT set, ITT reserved; RFC 7143 11.19).</summary>
    private void SendPing()
    {
        uint tag = _nextPingTag++;
        if (tag == BasicHeaderSegment.ReservedTag)
        {
            tag = _nextPingTag = 1;
        }

        var item = new Outbound { Kind = OutboundKind.Pdu, StatSN = StatSNUse.Current };
        Span<byte> h = item.Header;
        h[0] = (byte)Opcode.NopIn;
        h[1] = 0x80;
        BinaryPrimitives.WriteUInt32BigEndian(h[16..], BasicHeaderSegment.ReservedTag);
        BinaryPrimitives.WriteUInt32BigEndian(h[20..], tag);
        Enqueue(item);
    }

    /// <summary>
    /// A Text Request in the full feature phase (RFC 7143 11.10): SendTargets and the keys a session may
    /// re-declare. A request split with C=1 is gathered first (each part answered empty); an answer longer than
    /// the initiator's MaxRecvDataSegmentLength goes out in parts with C=1 and a Target Transfer Tag, each part
    /// fetched by an empty request carrying that tag (RFC 7143 6.6, 11.11).
    /// </summary>
    private ValueTask ProcessTextRequest(ReadOnlyMemory<byte> text)
    {
        bool immediate = (_header[0] & 0x40) != 0;
        bool final = (_header[1] & 0x80) != 0;
        bool more = (_header[1] & 0x40) != 0;
        uint itt = BinaryPrimitives.ReadUInt32BigEndian(_header.AsSpan(16));
        uint ttt = BinaryPrimitives.ReadUInt32BigEndian(_header.AsSpan(20));
        bool taken = !immediate;
        if (ttt != BasicHeaderSegment.ReservedTag && _textAnswer is not null && ttt == _textAnswerTag && text.IsEmpty)
        {
            SendTextPart(itt, taken);
            return ValueTask.CompletedTask;
        }

        _textAnswer = null;
        if ((final && more) || _textRequest.Count + text.Length > MaxTextRequest)
        {
            _textRequest.Clear();
            SendReject(RejectReason.ProtocolError);
            ReleaseIfTaken(taken);
            return ValueTask.CompletedTask;
        }

        _textRequest.AddRange(text.Span);
        if (more)
        {
            SendTextResponse(itt, BasicHeaderSegment.ReservedTag, final: false, more: false, ReadOnlyMemory<byte>.Empty, taken);
            return ValueTask.CompletedTask;
        }

        var result = _textNegotiator!.Process(CollectionsMarshal.AsSpan(_textRequest));
        _textRequest.Clear();
        if (result.Error != TextFormatError.None)
        {
            SendReject(RejectReason.ProtocolError);
            ReleaseIfTaken(taken);
            return ValueTask.CompletedTask;
        }

        _textAnswer = result.Response.ToArray();
        _textAnswerSent = 0;
        _textAnswerTag = NextTargetTransferTag();
        SendTextPart(itt, taken);
        return ValueTask.CompletedTask;
    }

    private void SendTextPart(uint itt, bool releasesSlot)
    {
        var answer = _textAnswer!;
        int length = Math.Min(answer.Length - _textAnswerSent, Parameters.InitiatorMaxRecvDataSegmentLength);
        var part = answer.AsMemory(_textAnswerSent, length);
        _textAnswerSent += length;
        bool last = _textAnswerSent == answer.Length;
        SendTextResponse(itt, last ? BasicHeaderSegment.ReservedTag : _textAnswerTag, final: last, more: !last, part, releasesSlot);
        if (last)
        {
            _textAnswer = null;
        }
    }

    private void SendTextResponse(uint itt, uint ttt, bool final, bool more, ReadOnlyMemory<byte> data, bool releasesSlot)
    {
        var item = new Outbound { Kind = OutboundKind.Pdu, StatSN = StatSNUse.Advance, Data = data, ReleasesSlot = releasesSlot };
        Span<byte> h = item.Header;
        h[0] = (byte)Opcode.TextResponse;
        h[1] = (byte)((final ? 0x80 : 0) | (more ? 0x40 : 0));
        BinaryPrimitives.WriteUInt32BigEndian(h[16..], itt);
        BinaryPrimitives.WriteUInt32BigEndian(h[20..], ttt);
        Enqueue(item);
    }

    private void ReleaseIfTaken(bool taken)
    {
        if (taken)
        {
            Window.Release();
        }
    }

    /// <summary>A Logout Request (RFC 7143 11.14): outstanding commands finish, then the response, then close.</summary>
    private async ValueTask ProcessLogoutAsync()
    {
        bool immediate = (_header[0] & 0x40) != 0;
        byte reason = (byte)(_header[1] & 0x7F);
        uint itt = BinaryPrimitives.ReadUInt32BigEndian(_header.AsSpan(16));
        ushort cid = BinaryPrimitives.ReadUInt16BigEndian(_header.AsSpan(20));
        bool taken = !immediate;

        byte response = 0; // connection or session closed successfully
        if (reason is 1 or 2 && cid != Cid)
        {
            response = 1; // CID not found
        }
        else if (reason > 2)
        {
            SendReject(RejectReason.ProtocolError, releasesSlot: taken);
            return;
        }

        await WaitForTasksAsync().ConfigureAwait(false);
        if (response == 0)
        {
            // Before the response: an initiator that logs in again right after it must find the nexus's
            // reservations gone (iscsi-test-cu Reserve6.Logout races exactly this).
            Session?.LoggedOut();
        }

        var item = new Outbound { Kind = OutboundKind.Pdu, StatSN = StatSNUse.Advance, CloseAfter = response == 0, ReleasesSlot = taken };
        Span<byte> h = item.Header;
        h[0] = (byte)Opcode.LogoutResponse;
        h[1] = 0x80;
        h[2] = response;
        BinaryPrimitives.WriteUInt32BigEndian(h[16..], itt);
        Enqueue(item);
    }

    /// <summary>A Reject carrying the offending PDU's header (RFC 7143 11.17). <paramref name="releasesSlot"/>: the
    /// rejected request had taken a command window slot, which is free again.</summary>
    private void SendReject(RejectReason reason, bool releasesSlot = false)
    {
        var item = new Outbound { Kind = OutboundKind.Pdu, StatSN = StatSNUse.Advance, Data = _header.AsSpan().ToArray(), ReleasesSlot = releasesSlot };
        Span<byte> h = item.Header;
        h[0] = (byte)Opcode.Reject;
        h[1] = 0x80;
        h[2] = (byte)reason;
        BinaryPrimitives.WriteUInt32BigEndian(h[16..], BasicHeaderSegment.ReservedTag);
        Enqueue(item);
    }

    /// <summary>Waits until no task of this connection is executing.</summary>
    private async Task WaitForTasksAsync()
    {
        while (true)
        {
            Task? pending = null;
            lock (_tasks)
            {
                foreach (var t in _tasks.Values)
                {
                    if (t.Executing)
                    {
                        t.ExecutionFinished ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                        pending = t.ExecutionFinished.Task;
                        break;
                    }
                }
            }

            if (pending is null)
            {
                return;
            }

            await pending.ConfigureAwait(false);
        }
    }

    /// <summary>Aborts every task of the connection and waits for those executing (connection closed).</summary>
    private async Task AbortAllTasksAsync()
    {
        List<IscsiTask> idle = [];
        lock (_tasks)
        {
            foreach (var t in _tasks.Values)
            {
                t.Aborted = true;
                t.Scsi.Abort();
                if (!t.Executing)
                {
                    idle.Add(t);
                }
            }

            foreach (var t in idle)
            {
                _tasks.Remove(t.Itt);
            }
        }

        ReleaseHeldControls();
        _waitingForCmdSN.Clear();
        foreach (var t in idle)
        {
            Sent(t);
        }

        await WaitForTasksAsync().ConfigureAwait(false);
    }
}
