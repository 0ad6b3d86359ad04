"""The organization's topology as a Mermaid diagram, drawn from :class:`OrgSettings`
(the same values the stacks are built from); the README holds its output, and a test
keeps the two equal."""

from __future__ import annotations

from vpcwatch_demo.org import OrgSettings


def topology(settings: OrgSettings | None = None) -> str:
    settings = OrgSettings() if settings is None else settings
    regions = ", ".join(settings.regions)
    lines = [
        "flowchart LR",
        f'  subgraph members["member accounts (OU {settings.members_ou}), {regions}"]',
    ]
    for account in settings.member_accounts:
        lines.append(
            f'    m{account}["{account}<br/>MemberBaseline: enrolled VPCs, detectors,<br/>'
            'enricher, Config rules, forwarder"]'
        )
    lines += [
        "  end",
        f'  subgraph archive["log-archive account {settings.log_archive_account}"]',
        f'    bucket[("CentralArchive<br/>{settings.archive_bucket_name}")]',
        "  end",
        f'  subgraph security["security account {settings.security_account}"]',
        f'    bus{{{{"CentralAlertBus<br/>{settings.bus_name}"}}}}',
        '    topic["AlertTopic<br/>(e-mail)"]',
        f'    table["FlowLogTable<br/>projected over {len(settings.member_accounts)} '
        f'accounts x {len(settings.regions)} regions"]',
        '    stackset["StackSet vpcwatch-member<br/>(delegated administrator)"]',
        "  end",
    ]
    for account in settings.member_accounts:
        lines += [
            f'  m{account} -- "flow logs (S3)" --> bucket',
            f'  m{account} -- "alarms, enrichments, findings" --> bus',
        ]
    lines += [
        '  bus -- "one message per event, naming account and region" --> topic',
        '  table -- "Athena reads" --> bucket',
        '  stackset -- "deploys to every member and region" --> members',
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(topology(), end="")
