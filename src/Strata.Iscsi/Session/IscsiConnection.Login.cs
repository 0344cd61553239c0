using System.Buffers.Binary;
using Strata.Iscsi.Login;
using Strata.Iscsi.Pdu;

namespace Strata.Iscsi.Session;

internal sealed partial class IscsiConnection
{
    /// <summary>The largest data segment of a login PDU (RFC 7143 13.12: the default MaxRecvDataSegmentLength
    /// applies until it is negotiated).</summary>
    private const int LoginDataLimit = 8192;

    /// <summary>
    /// The login phase (RFC 7143 6.3): Login Requests until the negotiator moves the connection to the full
    /// feature phase or fails it. True when the session is ready for commands.
    /// </summary>
    private async Task<bool> LoginAsync()
    {
        LoginNegotiator? negotiator = null;
        ulong isid = 0;
        ushort tsih = 0;
        while (true)
        {
            if (!await ReadHeaderAsync().ConfigureAwait(false))
            {
                return false;
            }

            var opcode = (Opcode)(_header[0] & 0x3F);
            if (opcode != Opcode.LoginRequest)
            {
                // Nothing but Login Requests is allowed before login completes (RFC 7143 6.3).
                _server.Log($"connection from {RemoteEndPoint}: {opcode} PDU before login completed, dropping it");
                Close("PDU before login completed");
                return false;
            }

            int length = DataSegmentLength;
            byte flags = _header[1];
            var request = new LoginRequest(
                Transit: (flags & 0x80) != 0,
                Continue: (flags & 0x40) != 0,
                CurrentStage: (LoginStage)((flags >> 2) & 3),
                NextStage: (LoginStage)(flags & 3),
                VersionMax: _header[2],
                VersionMin: _header[3],
                Isid: ReadIsid(_header),
                Tsih: BinaryPrimitives.ReadUInt16BigEndian(_header.AsSpan(14)),
                Cid: BinaryPrimitives.ReadUInt16BigEndian(_header.AsSpan(20)),
                Text: ReadOnlyMemory<byte>.Empty);
            uint itt = BinaryPrimitives.ReadUInt32BigEndian(_header.AsSpan(16));
            uint cmdSN = BinaryPrimitives.ReadUInt32BigEndian(_header.AsSpan(24));
            uint expStatSN = BinaryPrimitives.ReadUInt32BigEndian(_header.AsSpan(28));

            if (negotiator is null)
            {
                isid = request.Isid;
                tsih = request.Tsih;
                Cid = request.Cid;
                Window = new CommandWindow(cmdSN, _server.Options.CommandWindow);
                _sender.StatSN = expStatSN;
                negotiator = new LoginNegotiator(_server.Catalog, RemoteEndPoint, _server.Options.Limits, _server.Options.TargetPortalGroupTag);
            }

            if (length > LoginDataLimit)
            {
                await SkipDataAsync().ConfigureAwait(false);
                SendLoginFailure(request, itt, isid, LoginStatus.InitiatorError);
                return false;
            }

            var text = await ReceiveDataToScratchAsync().ConfigureAwait(false);
            request = request with { Text = text };

            if (request.Isid != isid || request.Tsih != tsih)
            {
                // ISID and TSIH must not change within one login (RFC 7143 11.12.5).
                SendLoginFailure(request, itt, isid, LoginStatus.InitiatorError);
                return false;
            }

            if (tsih != 0)
            {
                // Adding a connection to a session: at ERL 0 with MaxConnections=1 a session has only one.
                var status = _server.Sessions.FindByTsih(tsih) is null ? LoginStatus.SessionDoesNotExist : LoginStatus.TooManyConnections;
                SendLoginFailure(request, itt, isid, status);
                return false;
            }

            LoginResponse response;
            try
            {
                response = negotiator.Process(request);
            }
            catch (Exception e)
            {
                _server.Log($"connection from {RemoteEndPoint}: login failed: {e.Message}");
                SendLoginFailure(request, itt, isid, LoginStatus.TargetError);
                return false;
            }

            if (negotiator.Failed || response.Status != LoginStatus.Success)
            {
                _server.Log($"connection from {RemoteEndPoint}: login refused: {response.Status}: {negotiator.FailureReason}");
                SendLoginResponse(response, itt, isid, 0, close: true, startDigests: false);
                return false;
            }

            if (!negotiator.Completed)
            {
                SendLoginResponse(response, itt, isid, 0, close: false, startDigests: false);
                continue;
            }

            Parameters = negotiator.Parameters;
            IscsiSession session;
            try
            {
                session = await _server.Sessions.OpenAsync(this, isid, negotiator.Target).ConfigureAwait(false);
            }
            catch (InvalidOperationException e)
            {
                _server.Log($"connection from {RemoteEndPoint}: login failed: {e.Message}");
                SendLoginFailure(request, itt, isid, LoginStatus.OutOfResources);
                return false;
            }

            Session = session;
            _textNegotiator = negotiator.CreateFullFeatureTextNegotiator();
            SendLoginResponse(response, itt, isid, session.Tsih, close: false, startDigests: true);
            _headerDigest = Parameters.HeaderDigest;
            _dataDigest = Parameters.DataDigest;
            return true;
        }
    }

    private void SendLoginFailure(in LoginRequest request, uint itt, ulong isid, LoginStatus status)
    {
        var response = new LoginResponse(false, false, request.CurrentStage, request.NextStage, status, ReadOnlyMemory<byte>.Empty);
        SendLoginResponse(response, itt, isid, 0, close: true, startDigests: false);
    }

    /// <summary>A Login Response PDU (RFC 7143 11.13).</summary>
    private void SendLoginResponse(in LoginResponse response, uint itt, ulong isid, ushort tsih, bool close, bool startDigests)
    {
        var item = new Outbound { Kind = OutboundKind.Pdu, StatSN = StatSNUse.Advance, CloseAfter = close, StartDigestsAfter = startDigests, Data = response.Text };
        Span<byte> h = item.Header;
        h[0] = (byte)Opcode.LoginResponse;
        h[1] = (byte)((response.Transit ? 0x80 : 0) | (response.Continue ? 0x40 : 0) | ((byte)response.CurrentStage << 2) | (byte)response.NextStage);
        h[2] = 0; // Version-max
        h[3] = 0; // Version-active
        WriteIsid(h, isid);
        BinaryPrimitives.WriteUInt16BigEndian(h[14..], tsih);
        BinaryPrimitives.WriteUInt32BigEndian(h[16..], itt);
        BinaryPrimitives.WriteUInt16BigEndian(h[36..], (ushort)response.Status);
        Enqueue(item);
    }

    private static ulong ReadIsid(ReadOnlySpan<byte> header) =>
        ((ulong)BinaryPrimitives.ReadUInt16BigEndian(header[8..]) << 32) | BinaryPrimitives.ReadUInt32BigEndian(header[10..]);

    private static void WriteIsid(Span<byte> header, ulong isid)
    {
        BinaryPrimitives.WriteUInt16BigEndian(header[8..], (ushort)(isid >> 32));
        BinaryPrimitives.WriteUInt32BigEndian(header[10..], (uint)isid);
    }
}
