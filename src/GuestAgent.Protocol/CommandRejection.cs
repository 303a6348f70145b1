using System.Diagnostics.CodeAnalysis;

namespace GuestAgent.Protocol;

/// <summary>
/// Why a command body was refused. <see cref="CommandId"/> and <see cref="ReplyTo"/> are whatever
/// could be salvaged from the body (each only if it was well-formed), so that the agent can still
/// post a <c>rejected</c> reply the issuer will recognise.
/// </summary>
/// <param name="Code">One of <see cref="RejectCodes"/>.</param>
/// <param name="Message">For humans; names the offending field.</param>
/// <param name="Field">Path of the offending field (e.g. <c>args.timeout_s</c>), null when the body as a whole is at fault.</param>
/// <param name="KeyId">
/// The key whose valid signature the body carried, null when it was not authenticated (unsigned,
/// badly signed, or refused before the signature was checked). Only an authenticated rejection may
/// be recorded under its id and answered with a signed reply: anything else could come from anyone.
/// </param>
public sealed record CommandRejection(string Code, string Message, string? Field, Guid? CommandId, string? ReplyTo, string? KeyId = null)
{
    public bool IsAuthenticated => KeyId is not null;

    /// <summary>The <c>error</c> object of the <c>rejected</c> reply.</summary>
    public ReplyError ToReplyError() => new(Code, Message);
}

/// <summary>The outcome of <see cref="CommandParser.Parse(ReadOnlySpan{byte}, DateTimeOffset, ProtocolLimits?)"/>: a command or a rejection.</summary>
public sealed record CommandParseResult
{
    private CommandParseResult(Command? command, CommandRejection? rejection)
    {
        Command = command;
        Rejection = rejection;
    }

    public Command? Command { get; }

    public CommandRejection? Rejection { get; }

    [MemberNotNullWhen(true, nameof(Command))]
    [MemberNotNullWhen(false, nameof(Rejection))]
    public bool IsAccepted => Command is not null;

    public static CommandParseResult Accepted(Command command) => new(command, null);

    public static CommandParseResult Rejected(CommandRejection rejection) => new(null, rejection);
}
