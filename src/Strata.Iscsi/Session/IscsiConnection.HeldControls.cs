using System.Buffers.Binary;
using Strata.Iscsi.Pdu;

namespace Strata.Iscsi.Session;

internal sealed partial class IscsiConnection
{
    /// <summary>A non-immediate NOP-Out, Text, Task Management or Logout request that arrived ahead of a CmdSN gap:
    /// its header and data, kept until its CmdSN becomes ExpCmdSN (RFC 7143 3.2.2.1: the target delivers every
    /// non-immediate request in CmdSN order). <see cref="Charge"/> is what it took from the session's buffer
    /// budget.</summary>
    private sealed class HeldControl(byte[] header, byte[] data, long charge)
    {
        public byte[] Header { get; } = header;

        public byte[] Data { get; } = data;

        public long Charge { get; } = charge;
    }

    /// <summary>
    /// The window's part of a control request just read (its header in <see cref="_header"/>): an immediate one, or a
    /// non-immediate one at ExpCmdSN (whose CmdSN it takes now), is to be processed at once, and its data is
    /// returned; one ahead of a gap is held, one outside the window or repeating a held CmdSN is ignored (RFC 7143
    /// 3.2.2.1), and for both null is returned.
    /// </summary>
    private async ValueTask<ReadOnlyMemory<byte>?> ControlArrivedAsync(Opcode opcode)
    {
        bool immediate = (_header[0] & 0x40) != 0;
        uint itt = BinaryPrimitives.ReadUInt32BigEndian(_header.AsSpan(16));
        uint cmdSN = BinaryPrimitives.ReadUInt32BigEndian(_header.AsSpan(24));
        bool keepData = opcode is Opcode.NopOut or Opcode.TextRequest;
        if (opcode == Opcode.NopOut && itt == BasicHeaderSegment.ReservedTag)
        {
            // An answer to our NOP-In, or a one-way NOP-Out: nothing to send back (and it takes no CmdSN).
            await SkipDataAsync().ConfigureAwait(false);
            return null;
        }

        var check = immediate ? CmdSNCheck.Next : Window.Check(cmdSN);
        if (check == CmdSNCheck.OutOfWindow || (check == CmdSNCheck.Ahead && _waitingForCmdSN.ContainsKey(cmdSN)))
        {
            await SkipDataAsync().ConfigureAwait(false);
            return null;
        }

        ReadOnlyMemory<byte> data = ReadOnlyMemory<byte>.Empty;
        if (keepData)
        {
            data = await ReceiveDataToScratchAsync().ConfigureAwait(false);
        }
        else
        {
            await SkipDataAsync().ConfigureAwait(false);
        }

        if (check == CmdSNCheck.Next)
        {
            if (!immediate)
            {
                Window.Advance();
            }

            return data;
        }

        // Ahead of a gap: held like a SCSI command, at most one per CmdSN of the window, its memory charged to the
        // session's buffer budget like a command's.
        long charge = BasicHeaderSegment.Length + data.Length;
        if (Session is not { } session || !session.TryChargeBuffer(charge))
        {
            // No room to keep it: rejected now, and its CmdSN is used up when its turn comes (as for a command
            // rejected ahead of a gap).
            SendReject(RejectReason.OutOfResources);
            _waitingForCmdSN[cmdSN] = null;
            return null;
        }

        _waitingForCmdSN[cmdSN] = new HeldControl(_header.AsSpan().ToArray(), data.ToArray(), charge);
        return null;
    }

    /// <summary>Processes a control request whose CmdSN (if non-immediate) has been taken; its header is in
    /// <see cref="_header"/>.</summary>
    private ValueTask ProcessControlAsync(Opcode opcode, ReadOnlyMemory<byte> data) => opcode switch
    {
        Opcode.NopOut => ProcessNopOut(data),
        Opcode.TextRequest => ProcessTextRequest(data),
        Opcode.TaskManagementRequest => ProcessTaskManagementAsync(),
        Opcode.LogoutRequest => ProcessLogoutAsync(),
        _ => throw new InvalidOperationException($"{opcode} is not a control request"),
    };

    /// <summary>
    /// Held control requests whose turn has come, in CmdSN order with the held commands between them: each takes
    /// its CmdSN when it is processed, so its response carries the ExpCmdSN and MaxCmdSN after it. Taken off the
    /// queue before it is processed, so each runs exactly once.
    /// </summary>
    private async ValueTask RunHeldControlsAsync()
    {
        while (_controlReady && !_closed.IsCancellationRequested)
        {
            _controlReady = false;
            uint exp = Window.ExpCmdSN;
            if (!_waitingForCmdSN.TryGetValue(exp, out var next) || next is not HeldControl held)
            {
                AdmitWaitingCommands();
                continue;
            }

            _waitingForCmdSN.Remove(exp);
            Session?.CreditBuffer(held.Charge);
            Window.Advance();

            // Processed as if it had just arrived: the handlers (and a Reject's copy of the header) read _header,
            // which the receive loop does not touch until this returns.
            held.Header.CopyTo(_header.AsSpan());
            await ProcessControlAsync((Opcode)(held.Header[0] & 0x3F), held.Data).ConfigureAwait(false);
            AdmitWaitingCommands();
        }
    }

    /// <summary>The connection is closing: held control requests are dropped and their memory charge returned.</summary>
    private void ReleaseHeldControls()
    {
        foreach (var waiting in _waitingForCmdSN.Values)
        {
            if (waiting is HeldControl held)
            {
                Session?.CreditBuffer(held.Charge);
            }
        }
    }
}
