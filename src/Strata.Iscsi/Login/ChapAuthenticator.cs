using System.Security.Cryptography;
using System.Text;

namespace Strata.Iscsi.Login;

/// <summary>
/// The target side of CHAP for one connection (RFC 7143 12.1.3, RFC 1994): picks CHAP_A, issues a fresh
/// random CHAP_I and CHAP_C, checks CHAP_N and CHAP_R, and answers the initiator's own CHAP_I/CHAP_C
/// with CHAP_N/CHAP_R when it asks for mutual authentication. Every failure is an
/// AuthenticationFailure (0x0201).
/// </summary>
internal sealed class ChapAuthenticator
{
    /// <summary>Linux LIO's MAX_CHAP_N_SIZE (512, with its terminating null): CHAP_N up to 511 bytes.</summary>
    public const int MaxNameLength = 511;

    /// <summary>Linux LIO's MAX_RESPONSE_LENGTH (128): the encoded CHAP_R digits after "0x"/"0b".</summary>
    public const int MaxResponseDigits = 128;

    /// <summary>Linux LIO's CHAP_CHALLENGE_STR_LEN (4096, with its null): the encoded CHAP_C from an initiator.</summary>
    public const int MaxChallengeDigits = 4095;

    /// <summary>Linux LIO's limit on a decoded initiator challenge.</summary>
    public const int MaxChallengeLength = 1024;

    private readonly ChapCredentials _credentials;
    private readonly ChapCredentials? _mutual;
    private byte _identifier;
    private byte[]? _challenge;

    public ChapAuthenticator(ChapCredentials credentials, ChapCredentials? mutual)
    {
        _credentials = credentials;
        _mutual = mutual;
    }

    public ChapAlgorithm Algorithm { get; private set; }

    /// <summary>
    /// Step 2 of RFC 7143 12.1.3: the first algorithm of the initiator's CHAP_A list we support, with a new
    /// identifier and challenge. The challenge is as long as the digest, from the system CSPRNG, and lives
    /// only in this object: it is never issued twice.
    /// </summary>
    public void SelectAlgorithm(string offered, KeyValueBuilder response)
    {
        ChapAlgorithm? chosen = null;
        foreach (string item in ListValue.Split(offered))
        {
            if (NumericalValue.TryParse(item, 0, 255, out long number) && ChapDigest.IsSupported(number))
            {
                chosen = (ChapAlgorithm)number;
                break;
            }
        }

        if (chosen is null)
        {
            throw LoginFailedException.AuthenticationFailure($"no supported CHAP algorithm in CHAP_A={offered}");
        }

        Algorithm = chosen.Value;
        _identifier = RandomIdentifier();
        _challenge = RandomNumberGenerator.GetBytes(ChapDigest.Length(Algorithm));
        response.Add(TextKeys.ChapA, (long)Algorithm);
        response.Add(TextKeys.ChapI, _identifier);
        response.AddHex(TextKeys.ChapC, _challenge);
    }

    /// <summary>
    /// Step 3: verifies CHAP_N and CHAP_R against the challenge we issued, then, if the initiator sent its
    /// own CHAP_I and CHAP_C, answers them (mutual CHAP). The challenge is spent either way.
    /// </summary>
    public void Verify(string? name, string? response, string? identifier, string? challenge, KeyValueBuilder answer)
    {
        byte[] issued = _challenge ?? throw LoginFailedException.AuthenticationFailure("CHAP_R before a challenge was issued");
        _challenge = null;

        if (name is null || response is null)
        {
            throw LoginFailedException.AuthenticationFailure("CHAP_N and CHAP_R are both required");
        }

        // RFC 7143 12.1.3: N is a text string, compared as sent (no binary decoding).
        if (Encoding.UTF8.GetByteCount(name) > MaxNameLength)
        {
            throw LoginFailedException.AuthenticationFailure("CHAP_N is too long");
        }

        if (!string.Equals(name, _credentials.User, StringComparison.Ordinal))
        {
            throw LoginFailedException.AuthenticationFailure("CHAP_N does not name the configured user");
        }

        int digestLength = ChapDigest.Length(Algorithm);
        if (response.Length - 2 > MaxResponseDigits || !BinaryValue.TryDecode(response, out byte[] received) || received.Length != digestLength)
        {
            throw LoginFailedException.AuthenticationFailure("CHAP_R is malformed or of the wrong length");
        }

        byte[] secret = Encoding.UTF8.GetBytes(_credentials.Secret);
        byte[] expected = ChapDigest.Compute(Algorithm, _identifier, secret, issued);
        bool match = CryptographicOperations.FixedTimeEquals(received, expected);
        CryptographicOperations.ZeroMemory(secret);
        if (!match)
        {
            throw LoginFailedException.AuthenticationFailure("CHAP_R does not match");
        }

        if (identifier is null && challenge is null)
        {
            return;
        }

        AnswerMutual(identifier, challenge, issued, answer);
    }

    private void AnswerMutual(string? identifier, string? challenge, byte[] issued, KeyValueBuilder answer)
    {
        if (identifier is null || challenge is null)
        {
            throw LoginFailedException.AuthenticationFailure("mutual CHAP needs both CHAP_I and CHAP_C");
        }

        if (_mutual is null)
        {
            throw LoginFailedException.AuthenticationFailure("mutual CHAP requested but no target credentials are configured");
        }

        if (!NumericalValue.TryParse(identifier, 0, 255, out long id))
        {
            throw LoginFailedException.AuthenticationFailure("CHAP_I is not a number from 0 to 255");
        }

        if (challenge.Length - 2 > MaxChallengeDigits || !BinaryValue.TryDecode(challenge, out byte[] theirs)
            || theirs.Length == 0 || theirs.Length > MaxChallengeLength)
        {
            throw LoginFailedException.AuthenticationFailure("CHAP_C is malformed or too long");
        }

        // RFC 7143 12.1.3: a challenge reflected back at us would let an attacker use our own answer.
        if (theirs.Length == issued.Length && CryptographicOperations.FixedTimeEquals(theirs, issued))
        {
            throw LoginFailedException.AuthenticationFailure("the initiator's CHAP_C repeats the target's challenge");
        }

        byte[] ourSecret = Encoding.UTF8.GetBytes(_mutual.Secret);
        byte[] theirSecret = Encoding.UTF8.GetBytes(_credentials.Secret);
        try
        {
            // RFC 7143 12.1.3: a secret used in both directions must be refused.
            if (CryptographicOperations.FixedTimeEquals(ourSecret, theirSecret))
            {
                throw LoginFailedException.AuthenticationFailure("the mutual CHAP secret equals the initiator's secret");
            }

            answer.Add(TextKeys.ChapN, _mutual.User);
            answer.AddHex(TextKeys.ChapR, ChapDigest.Compute(Algorithm, (byte)id, ourSecret, theirs));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(ourSecret);
            CryptographicOperations.ZeroMemory(theirSecret);
        }
    }

    private static byte RandomIdentifier()
    {
        Span<byte> one = stackalloc byte[1];
        RandomNumberGenerator.Fill(one);
        return one[0];
    }
}
