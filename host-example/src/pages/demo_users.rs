//! The demo portal's own users: what a real portal keeps in its user database. The demo signs
//! the first one in automatically on the first visit; the login page switches between them.

use crate::access::Role;
use crate::config::{Companies, Company};

/// Which companies a demo user may see, and as what.
#[derive(Debug, Clone, Copy)]
enum Scope {
    /// Every company of the portal, as admin.
    AdminOfAll,
    /// Only this company (or, when the portal has no such company, its last one), as admin.
    AdminOf(&'static str),
    /// Every company, as viewer.
    ViewerOfAll,
}

/// One demo user.
#[derive(Debug, Clone, Copy)]
pub(super) struct DemoUser {
    /// The portal's user id (what the host records as `authorized_by` / `cleared_by`).
    pub(super) id: &'static str,
    /// Display name.
    pub(super) name: &'static str,
    scope: Scope,
}

/// The demo's users; the first is signed in automatically.
pub(super) const DEMO_USERS: [DemoUser; 3] = [
    DemoUser {
        id: crate::sessions::DEMO_USER,
        name: "Ada Admin",
        scope: Scope::AdminOfAll,
    },
    DemoUser {
        id: "acme-admin",
        name: "Alan Acme",
        scope: Scope::AdminOf("acme"),
    },
    DemoUser {
        id: "viewer",
        name: "Vera Viewer",
        scope: Scope::ViewerOfAll,
    },
];

impl DemoUser {
    /// The demo user with this id.
    pub(super) fn find(id: &str) -> Option<&'static DemoUser> {
        DEMO_USERS.iter().find(|u| u.id == id)
    }

    /// The companies this user may see, with roles, in the portal's menu order.
    pub(super) fn companies(&self, all: &Companies) -> Vec<(Company, Role)> {
        match self.scope {
            Scope::AdminOfAll => all.all().iter().map(|c| (c.clone(), Role::Admin)).collect(),
            Scope::ViewerOfAll => all
                .all()
                .iter()
                .map(|c| (c.clone(), Role::Viewer))
                .collect(),
            Scope::AdminOf(id) => {
                let company = all
                    .get(id)
                    .or_else(|| all.all().last())
                    .unwrap_or_else(|| all.first());
                vec![(company.clone(), Role::Admin)]
            }
        }
    }

    /// What the user is, in one phrase (the login page).
    pub(super) fn describe(&self, all: &Companies) -> String {
        let names = |role: Role| {
            self.companies(all)
                .into_iter()
                .filter(|(_, r)| *r == role)
                .map(|(c, _)| c.name)
                .collect::<Vec<_>>()
                .join(" and ")
        };
        match self.scope {
            Scope::ViewerOfAll => format!("viewer of {}", names(Role::Viewer)),
            _ => format!("admin of {}", names(Role::Admin)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_users_and_their_companies() {
        let all = Companies::default();
        let ids = |u: &DemoUser| {
            u.companies(&all)
                .into_iter()
                .map(|(c, r)| (c.id, r))
                .collect::<Vec<_>>()
        };
        let admin = DemoUser::find("admin").map(ids);
        assert_eq!(
            admin,
            Some(vec![
                ("demo-co".into(), Role::Admin),
                ("acme".into(), Role::Admin)
            ])
        );
        assert_eq!(
            DemoUser::find("acme-admin").map(ids),
            Some(vec![("acme".into(), Role::Admin)])
        );
        assert_eq!(
            DemoUser::find("viewer").map(ids),
            Some(vec![
                ("demo-co".into(), Role::Viewer),
                ("acme".into(), Role::Viewer)
            ])
        );
        assert!(DemoUser::find("alice").is_none());
        assert_eq!(
            DemoUser::find("admin")
                .unwrap_or(&DEMO_USERS[0])
                .describe(&all),
            "admin of Demonstration Co. and Acme Corp"
        );
    }
}
