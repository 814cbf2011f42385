//! Groups: creation, the 100-member limit, admin rights, leaving.

mod common;

use banter_protocol::{frames::ConversationChange, limits::MAX_GROUP_MEMBERS, ErrorCode, MemberRole, ServerFrame};
use common::{next_matching, next_message, TestServer};

#[tokio::test]
async fn a_group_of_100_works_and_the_101st_member_is_refused() {
    let server = TestServer::start().await;
    let creator = server.user("creator").await;
    let mut others = Vec::new();
    for _ in 0..MAX_GROUP_MEMBERS {
        others.push(server.user("m").await);
    }
    let first_99: Vec<_> = others[..MAX_GROUP_MEMBERS - 1].iter().map(|s| s.user.id).collect();
    let group = creator.api().create_group("hundred", &first_99).await.unwrap();
    assert_eq!(group.members.len(), MAX_GROUP_MEMBERS);
    assert_eq!(group.conversation.member_count, MAX_GROUP_MEMBERS as i64);

    let last = &others[MAX_GROUP_MEMBERS - 1];
    let err = creator.api().add_members(group.conversation.id, &[last.user.id]).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::GroupFull));
    assert_eq!(err.status(), Some(409));
    assert_eq!(creator.api().conversation(group.conversation.id).await.unwrap().members.len(), MAX_GROUP_MEMBERS);

    // Creating a group of 101 at once is refused too, and creates nothing.
    let all: Vec<_> = others.iter().map(|s| s.user.id).collect();
    let err = creator.api().create_group("too big", &all).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::GroupFull));
    assert_eq!(creator.api().conversations().await.unwrap().len(), 1);

    // Messages reach the 100 members.
    let mut listener = others[42].connect().await.unwrap();
    let mut conn = creator.connect().await.unwrap();
    conn.send_message(group.conversation.id, "hello hundred").await.unwrap();
    assert_eq!(next_message(&mut listener).await.text, "hello hundred");
}

#[tokio::test]
async fn only_admins_add_or_remove_members_and_anyone_can_leave() {
    let server = TestServer::start().await;
    let admin = server.user("admin").await;
    let member = server.user("member").await;
    let outsider = server.user("outsider").await;
    let group = admin.api().create_group("club", &[member.user.id]).await.unwrap();
    let id = group.conversation.id;
    assert_eq!(group.members.iter().find(|m| m.user.id == admin.user.id).unwrap().role, MemberRole::Admin);

    let err = member.api().add_members(id, &[outsider.user.id]).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Forbidden));
    let err = member.api().remove_member(id, admin.user.id).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Forbidden));
    let err = outsider.api().add_members(id, &[outsider.user.id]).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotAMember));

    let mut outsider_conn = outsider.connect().await.unwrap();
    admin.api().add_members(id, &[outsider.user.id]).await.unwrap();
    let change = next_matching(&mut outsider_conn, |f| match f {
        ServerFrame::ConversationUpdated { conversation_id, change } if conversation_id == id => Some(change),
        _ => None,
    })
    .await;
    assert_eq!(change, ConversationChange::Joined);
    let err = admin.api().add_members(id, &[outsider.user.id]).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::AlreadyMember));

    admin.api().remove_member(id, outsider.user.id).await.unwrap();
    assert_eq!(outsider.api().conversation(id).await.unwrap_err().code(), Some(ErrorCode::NotAMember));

    member.api().leave(id).await.unwrap();
    assert_eq!(member.api().history(id, Default::default()).await.unwrap_err().code(), Some(ErrorCode::NotAMember));
    assert_eq!(admin.api().conversation(id).await.unwrap().members.len(), 1);
}

#[tokio::test]
async fn when_the_last_admin_leaves_the_oldest_member_becomes_admin() {
    let server = TestServer::start().await;
    let admin = server.user("admin").await;
    let a = server.user("a").await;
    let b = server.user("b").await;
    let id = admin.api().create_group("succession", &[a.user.id, b.user.id]).await.unwrap().conversation.id;
    admin.api().leave(id).await.unwrap();
    let members = a.api().conversation(id).await.unwrap().members;
    assert_eq!(members.len(), 2);
    let admins: Vec<_> = members.iter().filter(|m| m.role == MemberRole::Admin).collect();
    assert_eq!(admins.len(), 1);
}

#[tokio::test]
async fn group_names_are_validated_and_direct_conversations_have_no_member_operations() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    assert_eq!(alice.api().create_group("  ", &[]).await.unwrap_err().code(), Some(ErrorCode::InvalidName));
    assert_eq!(alice.api().create_group(&"n".repeat(101), &[]).await.unwrap_err().code(), Some(ErrorCode::InvalidName));
    assert_eq!(alice.api().create_group("ghosts", &[424_242]).await.unwrap_err().code(), Some(ErrorCode::UserNotFound));
    let direct = alice.api().direct_conversation_with(bob.user.id).await.unwrap().conversation;
    let err = alice.api().add_members(direct.id, &[carol.user.id]).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::InvalidConversation));
}
