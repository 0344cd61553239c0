namespace Strata.Iscsi.Login;

/// <summary>
/// The security stage of one login (RFC 7143 6.3.1, 12): AuthMethod negotiation, then the CHAP exchange
/// (CHAP_A, then CHAP_N/CHAP_R and optionally the initiator's CHAP_I/CHAP_C). Tells the login whether
/// the initiator is authenticated, so that the target never transits before it is.
/// </summary>
internal sealed class SecurityNegotiation
{
    private const string Chap = "CHAP";

    private readonly ChapCredentials? _required;
    private readonly ChapCredentials? _mutual;
    private ChapAuthenticator? _chap;
    private Step _step = Step.AuthMethod;
    private string? _agreedMethod;

    /// <param name="required">CHAP credentials the initiator must prove; null lets it in with AuthMethod=None.</param>
    /// <param name="mutual">What the target answers when the initiator asks it to authenticate too.</param>
    public SecurityNegotiation(ChapCredentials? required, ChapCredentials? mutual)
    {
        _required = required;
        _mutual = mutual;
    }

    private enum Step
    {
        AuthMethod,
        ChapAlgorithm,
        ChapResponse,
        Done,
    }

    public bool Required => _required is not null;

    public bool Authenticated => _step == Step.Done;

    /// <summary>The CHAP algorithm agreed, once CHAP_A was answered.</summary>
    public ChapAlgorithm? Algorithm => _chap is null || _step == Step.ChapAlgorithm ? null : _chap.Algorithm;

    /// <summary>Handles the security keys of one request; <paramref name="keys"/> holds only AuthMethod and CHAP_*.</summary>
    public void Process(IReadOnlyDictionary<string, string> keys, bool transit, KeyValueBuilder response)
    {
        if (keys.TryGetValue(TextKeys.AuthMethod, out string? methods))
        {
            SelectMethod(methods, response);
        }

        bool hasA = keys.TryGetValue(TextKeys.ChapA, out string? algorithms);
        keys.TryGetValue(TextKeys.ChapN, out string? name);
        keys.TryGetValue(TextKeys.ChapR, out string? chapResponse);
        keys.TryGetValue(TextKeys.ChapI, out string? identifier);
        keys.TryGetValue(TextKeys.ChapC, out string? challenge);
        bool hasAnswer = name is not null || chapResponse is not null || identifier is not null || challenge is not null;

        if (hasA)
        {
            if (_step != Step.ChapAlgorithm || hasAnswer)
            {
                throw LoginFailedException.AuthenticationFailure("CHAP_A out of sequence");
            }

            _chap!.SelectAlgorithm(algorithms!, response);
            _step = Step.ChapResponse;
        }
        else if (hasAnswer)
        {
            if (_step != Step.ChapResponse)
            {
                // Covers a second CHAP_R after success: a response is only ever checked once.
                throw LoginFailedException.AuthenticationFailure("CHAP response out of sequence");
            }

            _chap!.Verify(name, chapResponse, identifier, challenge, response);
            _step = Step.Done;
        }

        if (_step == Step.AuthMethod && transit)
        {
            // The initiator wants to leave the security stage without negotiating AuthMethod.
            if (Required)
            {
                throw LoginFailedException.AuthenticationFailure("CHAP is required but the initiator did not offer it");
            }

            _step = Step.Done;
        }
    }

    private void SelectMethod(string offered, KeyValueBuilder response)
    {
        if (_agreedMethod is not null)
        {
            // Re-sent unchanged (a changed value is caught as a redeclaration): answer the same way.
            response.Add(TextKeys.AuthMethod, _agreedMethod);
            return;
        }

        // RFC 7143 6.2.1: the first of the initiator's list we accept. With CHAP configured only CHAP is
        // acceptable; without it only None (we hold no secret to check anything else against).
        foreach (string item in ListValue.Split(offered))
        {
            if (item == Chap && _required is not null)
            {
                _agreedMethod = Chap;
                _chap = new ChapAuthenticator(_required, _mutual);
                _step = Step.ChapAlgorithm;
                break;
            }

            if (item == ReservedValue.None && _required is null)
            {
                _agreedMethod = ReservedValue.None;
                _step = Step.Done;
                break;
            }
        }

        if (_agreedMethod is null)
        {
            throw LoginFailedException.AuthenticationFailure($"no acceptable method in AuthMethod={offered}");
        }

        response.Add(TextKeys.AuthMethod, _agreedMethod);
    }
}
