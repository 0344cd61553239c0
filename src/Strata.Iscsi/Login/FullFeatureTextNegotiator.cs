using System.Net;

namespace Strata.Iscsi.Login;

/// <summary>What one Text Request of the full feature phase produced.</summary>
/// <param name="Error">Not None when the text was malformed: the transport rejects the PDU (protocol error).</param>
/// <param name="Response">The Text Response data, whole: the transport splits it by the initiator's
/// MaxRecvDataSegmentLength, with C=1 and a Target Transfer Tag, as RFC 7143 11.11 describes.</param>
/// <param name="InitiatorMaxRecvDataSegmentLengthChanged">The initiator re-declared its MaxRecvDataSegmentLength;
/// the new value is in <see cref="NegotiatedParameters.InitiatorMaxRecvDataSegmentLength"/>.</param>
public readonly record struct TextNegotiationResult(
    TextFormatError Error,
    ReadOnlyMemory<byte> Response,
    bool InitiatorMaxRecvDataSegmentLengthChanged = false);

/// <summary>
/// Text Requests in the full feature phase (RFC 7143 6.2, 11.10, Appendix C): SendTargets, the
/// re-declarable keys of use ALL, NotUnderstood for unknown keys and Reject for keys that only login
/// may negotiate. Works on a whole logical text segment; continuation is the transport's.
/// </summary>
public sealed class FullFeatureTextNegotiator
{
    private readonly NegotiatedParameters _parameters;
    private readonly TargetLoginPolicy? _target;
    private readonly IPEndPoint _initiatorEndPoint;
    private readonly SendTargetsResponder _sendTargets;
    private readonly KeyValueBuilder _response = new();
    private readonly List<TextKeyValue> _pairs = [];

    public FullFeatureTextNegotiator(ITargetCatalog catalog, NegotiatedParameters parameters, TargetLoginPolicy? target, IPEndPoint initiatorEndPoint)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(initiatorEndPoint);
        _parameters = parameters;
        _target = target;
        _initiatorEndPoint = initiatorEndPoint;
        _sendTargets = new SendTargetsResponder(catalog);
    }

    public TextNegotiationResult Process(ReadOnlySpan<byte> text)
    {
        _pairs.Clear();
        TextFormatError error = KeyValueParser.Parse(text, _pairs);
        if (error != TextFormatError.None)
        {
            return new TextNegotiationResult(error, ReadOnlyMemory<byte>.Empty);
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (TextKeyValue pair in _pairs)
        {
            if (!seen.Add(pair.Key))
            {
                return new TextNegotiationResult(TextFormatError.DuplicateKey, ReadOnlyMemory<byte>.Empty);
            }
        }

        _response.Clear();
        bool mrdslChanged = false;
        foreach (TextKeyValue pair in _pairs)
        {
            mrdslChanged |= Answer(pair);
        }

        return new TextNegotiationResult(TextFormatError.None, _response.ToArray(), mrdslChanged);
    }

    private bool Answer(in TextKeyValue pair)
    {
        if (!TextKeys.TryGet(pair.Key, out TextKey key))
        {
            _response.Add(pair.Key, ReservedValue.NotUnderstood);
            return false;
        }

        switch (key.Name)
        {
            case TextKeys.SendTargets:
                _sendTargets.Respond(pair.Value, _parameters.SessionType, _target, _parameters.InitiatorName ?? string.Empty, _initiatorEndPoint.Address, _response);
                return false;

            case TextKeys.MaxRecvDataSegmentLength:
                // RFC 7143 13.12: declarative and of use ALL; the transport applies it to later PDUs.
                if (!NumericalValue.TryParse(pair.Value, key.Min, key.Max, out long declared))
                {
                    _response.Add(pair.Key, ReservedValue.Reject);
                    return false;
                }

                _parameters.InitiatorMaxRecvDataSegmentLength = (int)declared;
                return true;

            case TextKeys.InitiatorAlias:
                _parameters.InitiatorAlias = pair.Value;
                return false;

            default:
                // IO and LO keys are settled at login; target-only keys are not the initiator's to send.
                _response.Add(pair.Key, ReservedValue.Reject);
                return false;
        }
    }
}
