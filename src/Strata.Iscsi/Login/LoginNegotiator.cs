using System.Net;
using System.Text;

namespace Strata.Iscsi.Login;

// PROVISIONAL: a minimal negotiator (no CHAP, no validation) so the transport can be brought up; the full
// RFC 7143 negotiator replaces this file.
public sealed class LoginNegotiator
{
    private readonly ITargetCatalog _catalog;
    private readonly TargetNegotiationLimits _limits;
    private readonly ushort _tpgt;
    private bool _first = true;

    public LoginNegotiator(ITargetCatalog catalog, IPEndPoint initiatorEndPoint, TargetNegotiationLimits limits, ushort targetPortalGroupTag)
    {
        _catalog = catalog;
        _limits = limits;
        _tpgt = targetPortalGroupTag;
        _ = initiatorEndPoint;
        Parameters.TargetMaxRecvDataSegmentLength = limits.MaxRecvDataSegmentLength;
    }

    public bool Completed { get; private set; }

    public bool Failed { get; private set; }

    public NegotiatedParameters Parameters { get; } = new();

    public TargetLoginPolicy? Target { get; private set; }

    public LoginResponse Process(in LoginRequest request)
    {
        var answer = new StringBuilder();
        var keys = Encoding.UTF8.GetString(request.Text.Span).Split('\0', StringSplitOptions.RemoveEmptyEntries);
        var p = Parameters;
        foreach (var pair in keys)
        {
            int eq = pair.IndexOf('=');
            if (eq < 0)
            {
                continue;
            }

            string key = pair[..eq];
            string value = pair[(eq + 1)..];
            switch (key)
            {
                case "InitiatorName": p.InitiatorName = value; break;
                case "InitiatorAlias": p.InitiatorAlias = value; break;
                case "TargetName": p.TargetName = value; break;
                case "SessionType": p.SessionType = value == "Discovery" ? SessionType.Discovery : SessionType.Normal; break;
                case "AuthMethod": Add(answer, key, "None"); break;
                case "HeaderDigest": Add(answer, key, "None"); break;
                case "DataDigest": Add(answer, key, "None"); break;
                case "MaxRecvDataSegmentLength": p.InitiatorMaxRecvDataSegmentLength = int.Parse(value); break;
                case "InitialR2T": p.InitialR2T = value == "Yes"; Add(answer, key, value); break;
                case "ImmediateData": p.ImmediateData = value == "Yes"; Add(answer, key, value); break;
                case "MaxBurstLength": p.MaxBurstLength = Math.Min(int.Parse(value), _limits.MaxBurstLength); Add(answer, key, p.MaxBurstLength.ToString()); break;
                case "FirstBurstLength": p.FirstBurstLength = Math.Min(int.Parse(value), _limits.FirstBurstLength); Add(answer, key, p.FirstBurstLength.ToString()); break;
                case "MaxOutstandingR2T": p.MaxOutstandingR2T = Math.Min(int.Parse(value), _limits.MaxOutstandingR2T); Add(answer, key, p.MaxOutstandingR2T.ToString()); break;
                case "MaxConnections": Add(answer, key, "1"); break;
                case "ErrorRecoveryLevel": Add(answer, key, "0"); break;
                case "DataPDUInOrder": Add(answer, key, "Yes"); break;
                case "DataSequenceInOrder": Add(answer, key, "Yes"); break;
                case "DefaultTime2Wait": Add(answer, key, value); break;
                case "DefaultTime2Retain": Add(answer, key, "0"); break;
                case "IFMarker": case "OFMarker": Add(answer, key, "No"); break;
                default: Add(answer, key, "NotUnderstood"); break;
            }
        }

        if (_first)
        {
            _first = false;
            if (p.SessionType == SessionType.Normal)
            {
                Target = p.TargetName is null ? null : _catalog.Find(p.TargetName);
                if (Target is null)
                {
                    Failed = true;
                    return new LoginResponse(false, false, request.CurrentStage, request.CurrentStage, LoginStatus.NotFound, default);
                }

                Add(answer, "TargetPortalGroupTag", _tpgt.ToString());
            }
        }

        if (request.Transit && request.NextStage == LoginStage.FullFeaturePhase)
        {
            Add(answer, "MaxRecvDataSegmentLength", _limits.MaxRecvDataSegmentLength.ToString());
            Completed = true;
        }

        return new LoginResponse(request.Transit, false, request.CurrentStage, request.NextStage, LoginStatus.Success, Encoding.UTF8.GetBytes(answer.ToString()));
    }

    private static void Add(StringBuilder sb, string key, string value) => sb.Append(key).Append('=').Append(value).Append('\0');
}
